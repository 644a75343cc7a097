"""Data preprocessing: scaling features, splitting with stratification, augmenting images.

* :class:`Standardizer` (z-scores) and :class:`MinMaxScaler` (to a fixed range): statistics
  are fitted on the training data only and then applied, unchanged, to every other split.
  Both work on NumPy arrays and on torch tensors, and agree with scikit-learn's
  ``StandardScaler`` and ``MinMaxScaler``.
* :func:`stratified_split`: train / validation / test indices with the class proportions kept.
* Data augmentation for batches of images of shape ``(N, C, H, W)`` (torch): the deterministic
  transforms :func:`shift_images` and :func:`rotate_images`, their random versions
  :func:`random_shift` and :func:`random_rotation`, :func:`add_noise`, and :func:`augment`,
  which composes them. Every random function takes a ``torch.Generator``, so an augmented
  batch can be drawn again.

Importing this module does not import torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from dlopt_lab.optim.functional import check_hparam

Array = Any  # a NumPy array or a torch tensor
Tensor = Any  # a torch tensor

__all__ = [
    "MinMaxScaler",
    "Standardizer",
    "add_noise",
    "augment",
    "random_rotation",
    "random_shift",
    "rotate_images",
    "shift_images",
    "stratified_split",
]


# --------------------------------------------------------------------------------------------
# Helpers: NumPy arrays and torch tensors alike
# --------------------------------------------------------------------------------------------


def _is_torch(x: Array) -> bool:
    return type(x).__module__.startswith("torch")


def _as_float(X: Array) -> Array:
    """``X`` as a floating-point array (uint8 pixels become floats), with at least 2 axes."""
    if _is_torch(X):
        import torch

        X = X if X.is_floating_point() else X.to(torch.get_default_dtype())
    else:
        X = np.asarray(X)
        X = X if X.dtype.kind == "f" else X.astype(np.float64)
    if X.ndim < 2 or X.shape[0] == 0:
        raise ValueError(
            f"X must have shape (n_samples, n_features) with n_samples >= 1, got {tuple(X.shape)}"
        )
    return X


def _column_stats(X: Array) -> tuple[Array, Array, Array, Array]:
    """Per-feature mean, standard deviation (divisor n), minimum and maximum over axis 0."""
    if _is_torch(X):
        return X.mean(0), X.std(0, correction=0), X.amin(0), X.amax(0)
    return X.mean(0), X.std(0), X.min(0), X.max(0)


def _where(condition: Array, x: Array, other: float) -> Array:
    if _is_torch(condition):
        import torch

        return torch.where(condition, x, other)
    return np.where(condition, x, other)


def _check_fitted(X: Array, fitted: Array, owner: Any) -> Array:
    """``X`` as floats, after checking that ``owner`` is fitted, to the same feature shape."""
    if fitted is None:
        raise RuntimeError(f"this {type(owner).__name__} is not fitted yet: call fit first")
    X = _as_float(X)
    if tuple(X.shape[1:]) != tuple(fitted.shape):
        raise ValueError(
            f"X must have feature shape {tuple(fitted.shape)} (as in fit), got {tuple(X.shape[1:])}"
        )
    return X


# --------------------------------------------------------------------------------------------
# Scaling
# --------------------------------------------------------------------------------------------


class Standardizer:
    r"""Per-feature z-scores with the mean and standard deviation of the training data.

    Symbols: example :math:`i = 1..n`, feature :math:`j`, value :math:`x_{ij}`,
    training mean :math:`\mu_j`, training standard deviation :math:`\sigma_j`.

    .. math::

        \mu_j &= \frac1n \sum_{i=1}^n x_{ij}, \qquad
        \sigma_j = \sqrt{\frac1n \sum_{i=1}^n (x_{ij} - \mu_j)^2}\\
        z_{ij} &= \frac{x_{ij} - \mu_j}{s_j}, \qquad
        s_j = \begin{cases} \sigma_j & \text{feature } j \text{ varies in training}\\
                            1 & \text{feature } j \text{ is constant} \end{cases}

    After ``fit(X)``, ``mean`` is :math:`\mu`, ``std`` is :math:`\sigma` and ``scale`` is
    :math:`s`; the features are all axes but the first, so images of shape ``(n, 1, 8, 8)``
    get one mean per pixel.

    Conventions: :math:`\sigma` divides by :math:`n` (``ddof=0``), as NumPy's ``std`` and
    scikit-learn's ``StandardScaler``; torch's ``Tensor.std`` divides by :math:`n - 1` unless
    told ``correction=0``. A feature that is constant in the training data (its maximum equals
    its minimum) is divided by 1 instead of 0, as in scikit-learn: on the training data it
    maps to 0, and on new data a value :math:`x` maps to :math:`x - \mu_j`. z-scores have
    mean 0 and variance 1 on the training data but are *not* bounded: on :math:`n` training
    examples :math:`|z| \le \sqrt{n-1}` (Samuelson's inequality), and new data can go beyond.
    ``transform`` takes the same kind of array (NumPy or torch) that ``fit`` saw.

    Example:
        >>> import numpy as np
        >>> X_train = np.array([[1.0, 10.0], [3.0, 10.0]])
        >>> scaler = Standardizer().fit(X_train)
        >>> scaler.mean, scaler.std
        (array([ 2., 10.]), array([1., 0.]))
        >>> scaler.transform(np.array([[5.0, 12.0]]))
        array([[3., 2.]])

    References: LeCun, Bottou, Orr & Müller, "Efficient BackProp" (1998), section 4.3.
    """

    def __init__(self) -> None:
        self.mean: Array = None
        self.std: Array = None
        self.scale: Array = None

    def fit(self, X: Array) -> Standardizer:
        """Compute ``mean``, ``std`` and ``scale`` from the training data ``X``."""
        X = _as_float(X)
        mean, std, lo, hi = _column_stats(X)
        self.mean, self.std = mean, _where(hi > lo, std, 0.0)
        self.scale = _where(hi > lo, std, 1.0)  # s = sigma, or 1 for a constant feature
        return self

    def transform(self, X: Array) -> Array:
        """z = (x - mean) / scale, feature by feature."""
        X = _check_fitted(X, self.mean, self)
        return (X - self.mean) / self.scale

    def inverse_transform(self, Z: Array) -> Array:
        """x = z * scale + mean: back to the original units."""
        Z = _check_fitted(Z, self.mean, self)
        return Z * self.scale + self.mean

    def fit_transform(self, X: Array) -> Array:
        """Fit on the training data ``X`` and return it standardized."""
        return self.fit(X).transform(X)


class MinMaxScaler:
    r"""Per-feature affine map of the training data's range onto ``feature_range = (a, b)``.

    Symbols: value :math:`x_{ij}`, training minimum :math:`m_j` and maximum :math:`M_j`,
    target range :math:`[a, b]` (default :math:`[0, 1]`).

    .. math::

        y_{ij} = a + (b - a)\,\frac{x_{ij} - m_j}{r_j}, \qquad
        r_j = \begin{cases} M_j - m_j & M_j > m_j\\ 1 & \text{feature } j
              \text{ is constant} \end{cases}

    After ``fit(X)``, ``data_min`` is :math:`m`, ``data_max`` is :math:`M` and ``data_range``
    is :math:`r`.

    Conventions: as scikit-learn's ``MinMaxScaler``, a feature that is constant in the
    training data is divided by 1, so it maps to :math:`a` on the training data (and to
    :math:`a + (b - a)(x - m_j)` on new data). The output lies in :math:`[a, b]` on the data
    it was fitted on, but *not* necessarily on new data: a test value above the training
    maximum maps above :math:`b`. One outlier in the training data squeezes all other values
    into a small part of the range; :class:`Standardizer` is less sensitive to it.

    Example:
        >>> import numpy as np
        >>> scaler = MinMaxScaler().fit(np.array([[0.0], [4.0]]))
        >>> scaler.transform(np.array([[1.0], [6.0]]))
        array([[0.25],
               [1.5 ]])
    """

    def __init__(self, feature_range: tuple[float, float] = (0.0, 1.0)) -> None:
        if not (isinstance(feature_range, Sequence) and len(feature_range) == 2):
            raise ValueError(f"feature_range must be a pair (a, b), got {feature_range!r}")
        a = check_hparam("feature_range[0]", feature_range[0])
        b = check_hparam("feature_range[1]", feature_range[1], low=a, low_open=True)
        self.feature_range = (a, b)
        self.data_min: Array = None
        self.data_max: Array = None
        self.data_range: Array = None

    def fit(self, X: Array) -> MinMaxScaler:
        """Compute ``data_min``, ``data_max`` and ``data_range`` from the training data ``X``."""
        X = _as_float(X)
        _, _, lo, hi = _column_stats(X)
        self.data_min, self.data_max = lo, hi
        self.data_range = _where(hi > lo, hi - lo, 1.0)  # r = M - m, or 1 for a constant feature
        return self

    def transform(self, X: Array) -> Array:
        """y = a + (b - a) (x - data_min) / data_range, feature by feature."""
        X = _check_fitted(X, self.data_min, self)
        a, b = self.feature_range
        return a + (b - a) * ((X - self.data_min) / self.data_range)

    def inverse_transform(self, Y: Array) -> Array:
        """x = data_min + data_range (y - a) / (b - a): back to the original units."""
        Y = _check_fitted(Y, self.data_min, self)
        a, b = self.feature_range
        return self.data_min + self.data_range * ((Y - a) / (b - a))

    def fit_transform(self, X: Array) -> Array:
        """Fit on the training data ``X`` and return it scaled."""
        return self.fit(X).transform(X)


# --------------------------------------------------------------------------------------------
# Splitting
# --------------------------------------------------------------------------------------------


def stratified_split(
    y: Array,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    seed: int = 0,
) -> tuple[np.ndarray, ...]:
    r"""Split example indices into parts of the given sizes, class by class.

    Symbols: the :math:`n_c` examples of class :math:`c`, fractions :math:`f_1, \dots, f_K`
    summing to 1, cumulative sums :math:`F_k = f_1 + \dots + f_k` (:math:`F_0 = 0`).

    .. math::

        \#\{\text{class } c \text{ in part } k\} = \operatorname{round}(F_k n_c)
            - \operatorname{round}(F_{k-1} n_c)

    Each class is shuffled (by ``seed``) and cut at those points, so the parts are disjoint,
    together cover every example, and each holds the fraction :math:`f_k` of every class to
    within one example (each of the two roundings is off by at most 1/2).

    Returns:
        one sorted ``int64`` index array per fraction, e.g. ``(train, val, test)``.

    Example:
        >>> y = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
        >>> train, test = stratified_split(y, (0.6, 0.4), seed=0)
        >>> len(train), len(test), [int(sum(y[i] for i in part)) for part in (train, test)]
        (6, 4, [3, 2])
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-D array of labels, got shape {y.shape}")
    fractions = [check_hparam(f"fractions[{k}]", f, low=0.0, low_open=True)
                 for k, f in enumerate(fractions)]
    if not fractions or not math.isclose(sum(fractions), 1.0, abs_tol=1e-9):
        raise ValueError(f"Invalid fractions: {fractions} (must be positive and sum to 1)")
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(fractions)[:-1]
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        cuts = np.round(cumulative * len(members)).astype(int)
        for part, chunk in zip(parts, np.split(members, cuts), strict=False):
            part.append(chunk)
    return tuple(np.sort(np.concatenate(part)).astype(np.int64) for part in parts)


# --------------------------------------------------------------------------------------------
# Augmentation of image batches (N, C, H, W)
# --------------------------------------------------------------------------------------------


def _check_images(x: Tensor, *, floating: bool = False) -> None:
    if getattr(x, "ndim", None) != 4:
        shape = tuple(getattr(x, "shape", ()))
        raise ValueError(f"x must be a batch of images of shape (N, C, H, W), got shape {shape}")
    if floating and not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor, got dtype {x.dtype}")


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"Invalid {name}: {value!r} (must be an integer >= {low})")
    return int(value)


def shift_images(x: Tensor, dy: Any, dx: Any) -> Tensor:
    r"""Shift each image by whole pixels, filling with zeros what comes in at the border.

    Symbols: image :math:`x_n`, shifts :math:`\Delta y_n` (rows, positive = down) and
    :math:`\Delta x_n` (columns, positive = right).

    .. math::

        \operatorname{out}_n[r, c] = \begin{cases}
            x_n[r - \Delta y_n,\ c - \Delta x_n] & \text{inside the image}\\
            0 & \text{otherwise} \end{cases}

    ``dy`` and ``dx`` are integers or integer tensors of shape ``(N,)``. Pixels shifted past
    the border are lost (unlike ``torch.roll``, which wraps them around).

    Example:
        >>> import torch
        >>> x = torch.arange(1.0, 5.0).reshape(1, 1, 2, 2)
        >>> shift_images(x, dy=0, dx=1)[0, 0]
        tensor([[0., 1.],
                [0., 3.]])
    """
    import torch
    import torch.nn.functional as F

    _check_images(x)
    N, C, H, W = x.shape
    dy = torch.as_tensor(dy, device=x.device).long().expand(N)
    dx = torch.as_tensor(dx, device=x.device).long().expand(N)
    m = int(torch.cat([dy.abs(), dx.abs()]).max()) if N else 0
    padded = F.pad(x, (m, m, m, m))  # zeros around: (N, C, H + 2m, W + 2m)
    rows = m - dy[:, None] + torch.arange(H, device=x.device)  # (N, H): source row of each row
    cols = m - dx[:, None] + torch.arange(W, device=x.device)  # (N, W)
    picked_rows = padded.gather(2, rows[:, None, :, None].expand(N, C, H, W + 2 * m))
    return picked_rows.gather(3, cols[:, None, None, :].expand(N, C, H, W))


def rotate_images(x: Tensor, degrees: Any) -> Tensor:
    r"""Rotate each image about its centre, counter-clockwise as displayed, with zero padding.

    Symbols: angle :math:`\alpha_n` of image :math:`n`; pixel coordinates :math:`(u, v)`
    measured from the image centre, :math:`u` to the right and :math:`v` *down* (row order,
    as ``imshow`` displays an array).

    .. math::

        \operatorname{out}_n(u, v) = x_n\!\left(
            \begin{bmatrix}\cos\alpha_n & -\sin\alpha_n\\ \sin\alpha_n & \cos\alpha_n
            \end{bmatrix}\begin{bmatrix}u\\ v\end{bmatrix}\right)

    Each output pixel reads the input where the inverse rotation takes it; with :math:`v`
    pointing down, this turns the picture *counter-clockwise* on screen for
    :math:`\alpha > 0`. So ``rotate_images(x, 90)`` is ``torch.rot90(x, 1, dims=(2, 3))``
    (up to interpolation round-off on square images), as ``numpy.rot90``.

    Conventions: ``torch.nn.functional.affine_grid`` and ``grid_sample`` with bilinear
    interpolation, ``padding_mode="zeros"`` and ``align_corners=False`` (pixel centres at
    :math:`\pm(1 - 1/W)` in normalized coordinates). The angle is corrected for the aspect
    ratio, so non-square images turn rigidly too. ``degrees`` is a number or a tensor of
    shape ``(N,)``.

    Example:
        >>> import torch
        >>> x = torch.zeros(1, 1, 3, 3); x[0, 0, 1, 2] = 1.0  # right of the centre
        >>> rotate_images(x, 90.0)[0, 0].round(decimals=4)   # now above it
        tensor([[0., 1., 0.],
                [0., 0., 0.],
                [0., 0., 0.]])
    """
    import torch
    import torch.nn.functional as F

    _check_images(x, floating=True)
    N, _, H, W = x.shape
    a = torch.deg2rad(torch.as_tensor(degrees, dtype=x.dtype, device=x.device)).expand(N)
    cos, sin, zero = a.cos(), a.sin(), torch.zeros_like(a)
    # affine_grid works in normalized coordinates (x / (W/2), y / (H/2)): the rotation in
    # pixels R becomes S^-1 R S with S = diag(W/2, H/2)
    theta = torch.stack([torch.stack([cos, -sin * H / W, zero], dim=1),
                         torch.stack([sin * W / H, cos, zero], dim=1)], dim=1)  # (N, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_shift(x: Tensor, max_shift: int = 1, generator: Any = None) -> Tensor:
    """Shift each image by its own random whole-pixel offsets in ``[-max_shift, max_shift]``.

    The row and column offsets are drawn independently and uniformly from the
    ``2 max_shift + 1`` integers; see :func:`shift_images` for the zero fill. ``generator``:
    a ``torch.Generator`` (``None``: torch's global one).

    Example:
        >>> import torch
        >>> x = torch.rand(4, 1, 8, 8)
        >>> gen = torch.Generator().manual_seed(0)
        >>> random_shift(x, 2, gen).shape
        torch.Size([4, 1, 8, 8])
    """
    import torch

    _check_images(x)
    max_shift = _check_int("max_shift", max_shift, 0)
    dy, dx = torch.randint(-max_shift, max_shift + 1, (2, x.shape[0]), generator=generator,
                           device=x.device)
    return shift_images(x, dy, dx)


def random_rotation(x: Tensor, max_degrees: float = 10.0, generator: Any = None) -> Tensor:
    """Rotate each image by its own random angle, uniform in ``[-max_degrees, max_degrees]``.

    Positive angles turn counter-clockwise as displayed; see :func:`rotate_images`.
    ``generator``: a ``torch.Generator`` (``None``: torch's global one).
    """
    import torch

    _check_images(x, floating=True)
    max_degrees = check_hparam("max_degrees", max_degrees, low=0.0, high=180.0)
    u = torch.rand(x.shape[0], generator=generator, dtype=x.dtype, device=x.device)
    return rotate_images(x, (2 * u - 1) * max_degrees)  # uniform in [-max, max]


def add_noise(
    x: Tensor,
    std: float,
    generator: Any = None,
    clip: tuple[float, float] | None = (0.0, 1.0),
) -> Tensor:
    r"""Add Gaussian noise to every pixel, then clip to the valid pixel range.

    .. math::

        \operatorname{out} = \operatorname{clip}(x + \sigma\,\varepsilon,\ a,\ b), \qquad
        \varepsilon \sim \mathcal N(0, I)

    ``std`` is :math:`\sigma`; ``clip = (a, b)`` is the pixel range (``None``: no clipping,
    and then the noise has standard deviation exactly :math:`\sigma` in distribution;
    clipping makes it smaller near the ends of the range).
    """
    import torch

    _check_images(x, floating=True)
    std = check_hparam("std", std, low=0.0)
    noisy = x + std * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    if clip is None:
        return noisy
    if not (isinstance(clip, Sequence) and len(clip) == 2 and clip[0] < clip[1]):
        raise ValueError(f"Invalid clip: {clip!r} (must be None or a pair (a, b) with a < b)")
    return noisy.clamp(clip[0], clip[1])


def augment(
    x: Tensor,
    *,
    max_shift: int = 1,
    max_degrees: float = 10.0,
    noise_std: float = 0.05,
    generator: Any = None,
) -> Tensor:
    """A random rotation, then a random shift, then noise: new training images from old.

    Each image gets its own angle in ``[-max_degrees, max_degrees]``, its own shift in
    ``[-max_shift, max_shift]`` pixels and its own noise of standard deviation
    ``noise_std``, clipped to [0, 1]. The label does not change: these are transformations
    that keep a digit the same digit (a 180° rotation would turn a 6 into a 9).

    Example:
        >>> import torch
        >>> x = torch.rand(16, 1, 8, 8)
        >>> a = augment(x, generator=torch.Generator().manual_seed(0))
        >>> b = augment(x, generator=torch.Generator().manual_seed(0))
        >>> bool((a == b).all()), a.shape
        (True, torch.Size([16, 1, 8, 8]))
    """
    x = random_rotation(x, max_degrees, generator)
    x = random_shift(x, max_shift, generator)
    return add_noise(x, noise_std, generator)
