r"""Uniform quantization from scratch: integer codes, scale and zero point, fake quantization.

A real number :math:`x` is stored as a :math:`b`-bit integer code :math:`q` and read back as
:math:`\hat x = s\,(q - z)`: the *scale* :math:`s > 0` is the step between neighbouring levels
and the *zero point* :math:`z` is the code that stands for the real number 0.

* :func:`qrange`: the codes a scheme may use, ``(qmin, qmax)``;
* :func:`qparams`: scale and zero point from an observed range ``[min_val, max_val]``, the one
  place where those formulas live;
* :func:`calibrate_minmax`, :func:`calibrate_percentile`: that range from data, per tensor or
  per channel;
* :func:`quantize` -> :class:`QuantizedTensor` (codes plus parameters), whose
  :meth:`~QuantizedTensor.dequantize` goes back to floats;
* :func:`fake_quantize`: quantize then dequantize, differentiable with the straight-through
  estimator, for quantization-aware training.

The two schemes, for :math:`b` bits (both use all :math:`2^b` codes, hence :math:`2^b - 1`
steps between the lowest and the highest level):

=========== =================================== ================ ===============================
scheme      codes :math:`[q_{\min}, q_{\max}]`  zero point       scale from :math:`[m, M]`
=========== =================================== ================ ===============================
affine      :math:`[0,\ 2^b - 1]`               computed         :math:`(M - m)/(2^b - 1)`
symmetric   :math:`[-2^{b-1},\ 2^{b-1} - 1]`    0                :math:`2\max(|m|, |M|)/(2^b - 1)`
=========== =================================== ================ ===============================

Every number here agrees with PyTorch: the scale and zero point are those of
``torch.ao.quantization``'s ``MinMaxObserver`` and ``PerChannelMinMaxObserver``, and
:func:`fake_quantize` returns, bit for bit, what ``torch.fake_quantize_per_tensor_affine`` and
``torch.fake_quantize_per_channel_affine`` return, gradient included (for float32 input;
``tests/test_quant.py`` checks both).

Importing this module does not import torch.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlopt_lab.optim.functional import check_hparam

Tensor = Any  # a torch tensor

__all__ = [
    "QuantizedTensor",
    "calibrate_minmax",
    "calibrate_percentile",
    "fake_quantize",
    "qparams",
    "qrange",
    "quantize",
]

_MAX_BITS = 16
# The smallest scale qparams returns: torch.ao's observers clamp at float32 machine epsilon.
_EPS = float(np.finfo(np.float32).eps)
# A given scale must be a normal, finite float32 number, so that 1/scale is finite too.
_SCALE_LOW, _SCALE_HIGH = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)


# --------------------------------------------------------------------------------------------
# Checks at the boundary
# --------------------------------------------------------------------------------------------


def _check_num_bits(num_bits: Any) -> int:
    if isinstance(num_bits, bool) or not isinstance(num_bits, (int, np.integer)) \
            or not 1 <= num_bits <= _MAX_BITS:
        raise ValueError(f"Invalid num_bits: {num_bits!r} (must be an integer in [1, {_MAX_BITS}])")
    return int(num_bits)


def _check_symmetric(symmetric: Any) -> bool:
    if not isinstance(symmetric, (bool, np.bool_)):
        raise ValueError(f"Invalid symmetric: {symmetric!r} (must be True or False)")
    return bool(symmetric)


def _check_x(x: Any) -> Tensor:
    import torch

    x = torch.as_tensor(x)
    if not x.is_floating_point():
        raise ValueError(f"Invalid x: dtype {x.dtype} (must be a floating-point tensor)")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("Invalid x: contains NaN or inf (every entry must be finite)")
    return x


def _check_axis(axis: Any, ndim: int) -> int | None:
    if axis is None:
        return None
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) \
            or not -ndim <= axis < ndim:
        allowed = f"an integer in [{-ndim}, {ndim - 1}]" if ndim else "None"
        raise ValueError(f"Invalid axis: {axis!r} (must be None or {allowed} for a {ndim}-D x)")
    return int(axis) % ndim


def _per_channel(name: str, value: Any, dtype: Any, channels: int, axis: int, x: Tensor) -> Tensor:
    """``value`` as a 1-D tensor with one entry per channel (a single value is repeated)."""
    import torch

    t = torch.as_tensor(value, device=x.device).detach().reshape(-1)
    if t.numel() == 1:
        t = t.expand(channels)
    if t.numel() != channels:
        raise ValueError(f"Invalid {name}: {t.numel()} values (must be 1 or x.shape[{axis}] = "
                         f"{channels}, one per channel)")
    if dtype == torch.int32 and (t.is_floating_point() and not bool((t == t.round()).all())):
        raise ValueError(f"Invalid {name}: {t.tolist()} (must be integers)")
    return t.to(dtype).contiguous()


def _check_scale(scale: Any, axis: int | None, x: Tensor) -> float | Tensor:
    import torch

    allowed = f"must be in [{_SCALE_LOW:g}, {_SCALE_HIGH:g}], a positive normal float32 number"
    if axis is None:
        if hasattr(scale, "numel") and scale.numel() == 1:
            scale = scale.item()
        s = check_hparam("scale", scale, low=0.0, low_open=True)
        s32 = float(np.float32(s))  # the scale is a float32 number, as in every backend
        if not _SCALE_LOW <= s32 <= _SCALE_HIGH:
            raise ValueError(f"Invalid scale: {s:g} ({allowed})")
        return s32
    s = _per_channel("scale", scale, torch.float32, x.shape[axis], axis, x)
    bad = ~((s >= _SCALE_LOW) & (s <= _SCALE_HIGH))  # also catches NaN
    if bool(bad.any()):
        c = int(bad.nonzero()[0, 0])
        raise ValueError(f"Invalid scale: {float(s[c]):g} in channel {c} ({allowed})")
    return s


def _check_zero_point(zero_point: Any, num_bits: int, symmetric: bool, axis: int | None,
                      x: Tensor) -> int | Tensor:
    import torch

    qmin, qmax = qrange(num_bits, symmetric)
    if zero_point is None:
        if symmetric:
            return 0 if axis is None else torch.zeros(x.shape[axis], dtype=torch.int32,
                                                      device=x.device)
        raise ValueError("Invalid zero_point: None (required with scale when symmetric=False: "
                         f"an integer in [{qmin}, {qmax}])")
    allowed = "must be 0 when symmetric=True" if symmetric else \
        f"must be an integer in [{qmin}, {qmax}] for num_bits={num_bits}"
    lo, hi = (0, 0) if symmetric else (qmin, qmax)
    if axis is None:
        if hasattr(zero_point, "numel") and zero_point.numel() == 1:
            zero_point = zero_point.item()
        if isinstance(zero_point, bool) or not isinstance(zero_point, (int, np.integer)) \
                or not lo <= zero_point <= hi:
            raise ValueError(f"Invalid zero_point: {zero_point!r} ({allowed})")
        return int(zero_point)
    z = _per_channel("zero_point", zero_point, torch.int32, x.shape[axis], axis, x)
    bad = (z < lo) | (z > hi)
    if bool(bad.any()):
        c = int(bad.nonzero()[0, 0])
        raise ValueError(f"Invalid zero_point: {int(z[c])} in channel {c} ({allowed})")
    return z


def _resolve(x, num_bits, symmetric, axis, scale, zero_point):
    """Validate the arguments of quantize / fake_quantize; compute the qparams when not given."""
    x = _check_x(x)
    num_bits = _check_num_bits(num_bits)
    symmetric = _check_symmetric(symmetric)
    axis = _check_axis(axis, x.ndim)
    if scale is None:
        if zero_point is not None:
            raise ValueError("Invalid zero_point: given without scale (pass both, or neither to "
                             "compute them from the min and max of x)")
        if x.numel() == 0:
            raise ValueError("Invalid x: empty (there is no min and max: pass scale and "
                             "zero_point)")
        scale, zero_point = qparams(*calibrate_minmax(x, axis), num_bits, symmetric)
    else:
        scale = _check_scale(scale, axis, x)
        zero_point = _check_zero_point(zero_point, num_bits, symmetric, axis, x)
    return x, num_bits, symmetric, axis, scale, zero_point


# --------------------------------------------------------------------------------------------
# The formulas
# --------------------------------------------------------------------------------------------


def qrange(num_bits: int = 8, symmetric: bool = False) -> tuple[int, int]:
    r"""The integer codes ``(qmin, qmax)`` of a :math:`b`-bit scheme.

    .. math::

        \text{affine:}\quad [q_{\min}, q_{\max}] &= [0,\ 2^b - 1]\\
        \text{symmetric:}\quad [q_{\min}, q_{\max}] &= [-2^{b-1},\ 2^{b-1} - 1]

    Both are :math:`2^b` codes, so :math:`2^b` levels and :math:`2^b - 1` steps between the
    lowest and the highest (8 bits: 256 levels, 255 steps). These are the ranges of
    ``torch.quint8`` and ``torch.qint8`` for 8 bits; the symmetric range is the full one, with
    the one extra negative code :math:`-2^{b-1}` (see :func:`qparams` for what the scale does
    with it).

    Example:
        >>> qrange(8), qrange(8, symmetric=True), qrange(4, symmetric=True)
        ((0, 255), (-128, 127), (-8, 7))
    """
    b = _check_num_bits(num_bits)
    if _check_symmetric(symmetric):
        return -(2 ** (b - 1)), 2 ** (b - 1) - 1
    return 0, 2**b - 1


def qparams(
    min_val: float | Tensor,
    max_val: float | Tensor,
    num_bits: int = 8,
    symmetric: bool = False,
) -> tuple[float, int] | tuple[Tensor, Tensor]:
    r"""Scale and zero point for an observed range ``[min_val, max_val]``: the formulas.

    Symbols: observed minimum :math:`m` and maximum :math:`M`; codes
    :math:`[q_{\min}, q_{\max}]` from :func:`qrange`; scale :math:`s`; zero point :math:`z`;
    :math:`\varepsilon` the float32 machine epsilon (:math:`2^{-23}`).

    .. math::

        m^- &= \min(m, 0), \qquad M^+ = \max(M, 0)
            && \text{the range, extended to include 0}\\
        \text{affine:}\quad s &= \max\!\Big(\frac{M^+ - m^-}{q_{\max} - q_{\min}},\
            \varepsilon\Big),
            & z &= \operatorname{clamp}\big(q_{\min} - \operatorname{round}(m^-/s),\
            q_{\min}, q_{\max}\big)\\
        \text{symmetric:}\quad s &= \max\!\Big(\frac{2\max(-m^-, M^+)}{q_{\max} - q_{\min}},\
            \varepsilon\Big)
            = \frac{\max|x|}{2^{b-1} - \tfrac12},
            & z &= 0

    Why the range must contain 0: 0 must be exactly representable, :math:`s(z - z) = 0`.
    A convolution pads with zeros, a ReLU outputs exact zeros for about half its inputs, and
    a mask writes zeros: if 0 came back as :math:`\pm s/3`, every one of them would add the
    same small bias, and the errors would not average out. With :math:`0 \in [m^-, M^+]`,
    :math:`z` is an integer code in range and 0 maps to it exactly.

    The scale spreads the :math:`q_{\max} - q_{\min} = 2^b - 1` steps over the extended
    range, so every :math:`x` in it is within :math:`s/2` of a level (the rounding of
    :math:`z` shifts the grid by at most :math:`s/2`, which the clamping of the ends absorbs).
    A tensor of zeros would give :math:`s = 0` and a division by zero: like ``torch.ao``,
    the scale is clamped from below at :math:`\varepsilon`.

    Convention, symmetric: the scale is :math:`2\max|x|/(2^b - 1)`, i.e. :math:`\max|x|/127.5`
    for 8 bits, neither of the two forms usually quoted. It is what ``torch.ao``'s
    ``MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)`` computes
    (``max|x| / ((quant_max - quant_min) / 2)``), and the same rule as the affine scheme,
    range over steps, applied to :math:`[-\max|x|, \max|x|]`: all :math:`2^b` codes are used
    and every :math:`|x| \le \max|x|` is within :math:`s/2` of a level. The price: neither
    :math:`\pm\max|x|` is itself a level (each lies halfway between two; :math:`+\max|x|`
    comes back one half step short). The *narrow* or *restricted* convention,
    :math:`s = \max|x|/(2^{b-1} - 1)` (``/127``, torch.ao with ``quant_min=-127``), makes
    both :math:`\pm\max|x|` exact and never uses the code :math:`-2^{b-1}`; the form
    :math:`\max|x|/2^{b-1}` (``/128``) would clip :math:`+\max|x|` by a whole step. To use
    either, pass that scale to :func:`quantize` yourself.

    Arithmetic as torch's observers do it: in float32, in the same order, so the results are
    equal to theirs, not merely close. Python numbers in, ``(float, int)`` out; 1-D tensors
    (one entry per channel) in, a float32 scale tensor and an int32 zero-point tensor out,
    the types ``torch.fake_quantize_per_channel_affine`` takes.

    Example:
        >>> qparams(-1.0, 2.0, num_bits=4)                 # 15 steps over [-1, 2]
        (0.20000000298023224, 5)
        >>> qparams(0.5, 2.0, num_bits=4)                  # extended to [0, 2]: z = 0
        (0.13333334028720856, 0)
        >>> qparams(-1.0, 2.0, num_bits=4, symmetric=True) # 2 * 2 / 15
        (0.2666666805744171, 0)

    References: Jacob et al., "Quantization and training of neural networks for efficient
    integer-arithmetic-only inference" (CVPR 2018); Krishnamoorthi, "Quantizing deep
    convolutional networks for efficient inference: a whitepaper" (arXiv:1806.08342, 2018).
    """
    import torch

    num_bits = _check_num_bits(num_bits)
    symmetric = _check_symmetric(symmetric)
    scalar = not (hasattr(min_val, "ndim") and min_val.ndim > 0)
    mn, mx = (_check_range_end(name, v) for name, v in (("min_val", min_val), ("max_val", max_val)))
    if mn.shape != mx.shape:
        raise ValueError(f"Invalid max_val: shape {tuple(mx.shape)} (must match min_val's, "
                         f"{tuple(mn.shape)})")
    if bool((mn > mx).any()):
        raise ValueError("Invalid min_val: greater than max_val (must be <= max_val)")
    qmin, qmax = qrange(num_bits, symmetric)

    min_neg = torch.minimum(mn, torch.zeros_like(mn))  # m^- = min(m, 0)
    max_pos = torch.maximum(mx, torch.zeros_like(mx))  # M^+ = max(M, 0)
    if symmetric:
        amax = torch.maximum(-min_neg, max_pos)
        scale = amax / (float(qmax - qmin) / 2)  # s = 2 max|x| / (qmax - qmin)
        scale = torch.clamp(scale, min=_EPS)
        zero_point = torch.zeros_like(scale, dtype=torch.int32)
    else:
        scale = (max_pos - min_neg) / float(qmax - qmin)  # s = (M+ - m-) / (qmax - qmin)
        scale = torch.clamp(scale, min=_EPS)
        zero_point = qmin - torch.round(min_neg / scale).to(torch.int32)  # z = qmin - round(m-/s)
        zero_point = torch.clamp(zero_point, qmin, qmax)
    if not bool(torch.isfinite(scale).all()):
        raise ValueError("Invalid max_val: max_val - min_val overflows float32")
    if scalar:
        return float(scale), int(zero_point)
    return scale, zero_point


def _check_range_end(name: str, value: Any) -> Tensor:
    import torch

    if hasattr(value, "ndim") and value.ndim > 1:
        raise ValueError(f"Invalid {name}: {value.ndim}-D (must be a number or a 1-D tensor)")
    t = torch.as_tensor(value, dtype=torch.float32)
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"Invalid {name}: not finite (must be a finite number)")
    return t


# --------------------------------------------------------------------------------------------
# Calibration: the range [min_val, max_val] from data
# --------------------------------------------------------------------------------------------


def _channels_first(x: Tensor, axis: int) -> Tensor:
    """``x`` as a 2-D tensor ``(C, everything else)``, channel ``c`` in row ``c``."""
    return x.movedim(axis, 0).reshape(x.shape[axis], -1)


def calibrate_minmax(x: Tensor, axis: int | None = None) -> tuple[Any, Any]:
    r"""The observed range ``(min_val, max_val)`` of ``x``, per tensor or per channel.

    .. math::

        m = \min_i x_i, \qquad M = \max_i x_i
        \qquad\text{(per channel } c\text{: over the entries with index } c
        \text{ along } \texttt{axis}\text{)}

    The whole range, outliers included: right for weights, often too wide for activations,
    where one rare large value stretches the scale for all (see :func:`calibrate_percentile`).
    Per tensor, two Python floats; per channel, two 1-D tensors of length ``x.shape[axis]``.

    Example:
        >>> import torch
        >>> calibrate_minmax(torch.tensor([[1.0, -2.0], [3.0, 0.5]]))
        (-2.0, 3.0)
        >>> calibrate_minmax(torch.tensor([[1.0, -2.0], [3.0, 0.5]]), axis=1)
        (tensor([ 1., -2.]), tensor([3.0000, 0.5000]))
    """
    x = _check_x(x)
    axis = _check_axis(axis, x.ndim)
    if x.numel() == 0:
        raise ValueError("Invalid x: empty (there is no min and max)")
    x = x.detach()
    if axis is None:
        return float(x.min()), float(x.max())
    mn, mx = _channels_first(x, axis).aminmax(dim=1)
    return mn, mx


def calibrate_percentile(x: Tensor, pct: float = 99.99,
                         axis: int | None = None) -> tuple[Any, Any]:
    r"""A range that drops the outliers: the :math:`(100 - p)`-th and :math:`p`-th percentiles.

    Symbols: percentile :math:`p \in (50, 100]` (``pct``); :math:`Q_x(u)` the
    :math:`u`-quantile of the entries of :math:`x`.

    .. math::

        m = Q_x\big(1 - p/100\big), \qquad M = Q_x\big(p/100\big)

    With :math:`p = 100` this is :func:`calibrate_minmax`. Values outside :math:`[m, M]` are
    clipped when quantized, a large error for a few entries, in exchange for a finer step
    (smaller rounding error) for all the others: a good trade for activations with long
    tails. Quantiles by linear interpolation (``torch.quantile``, which handles up to
    :math:`2^{24}` entries per tensor or channel).

    Example:
        >>> import torch
        >>> x = torch.cat([torch.linspace(-1, 1, 999), torch.tensor([50.0])])
        >>> calibrate_minmax(x)
        (-1.0, 50.0)
        >>> lo, hi = calibrate_percentile(x, 99.0)
        >>> round(lo, 2), round(hi, 2)
        (-0.98, 0.98)
    """
    import torch

    p = check_hparam("pct", pct, low=50.0, high=100.0, low_open=True)
    x = _check_x(x)
    axis = _check_axis(axis, x.ndim)
    if x.numel() == 0:
        raise ValueError("Invalid x: empty (there are no percentiles)")
    x = x.detach()
    flat = x.reshape(1, -1) if axis is None else _channels_first(x, axis)
    u = torch.tensor([1 - p / 100, p / 100], dtype=torch.float64, device=x.device)
    lo, hi = torch.quantile(flat.double(), u, dim=1).to(x.dtype)
    if axis is None:
        return float(lo[0]), float(hi[0])
    return lo, hi


# --------------------------------------------------------------------------------------------
# Quantize, dequantize
# --------------------------------------------------------------------------------------------


def _broadcast(v: Any, axis: int | None, ndim: int) -> Any:
    """A per-channel 1-D tensor shaped to broadcast along ``axis``; a number as it is."""
    if axis is None:
        return v
    shape = [1] * ndim
    shape[axis] = -1
    return v.reshape(shape)


def _round_clamp(x: Tensor, scale: Any, zero_point: Any, qmin: int, qmax: int,
                 axis: int | None) -> tuple[Tensor, Tensor]:
    """Codes ``clamp(round(x / s) + z)`` as floats, and the mask ``qmin <= round(x/s) + z <= qmax``.

    As torch's kernels compute it: ``x * (1/s)`` with the reciprocal taken in float32, in
    float32 arithmetic (float64 for float64 input); ``round`` is half to even.
    """
    import torch

    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    s = _broadcast(torch.as_tensor(scale, dtype=torch.float32, device=x.device), axis, x.ndim)
    z = _broadcast(torch.as_tensor(zero_point, device=x.device), axis, x.ndim)
    inv_scale = (1.0 / s).to(work)  # 1/s in float32, as torch's kernels take it
    code = torch.round(x.detach().to(work) * inv_scale) + z  # round(x/s) + z, ties to even
    in_range = (code >= qmin) & (code <= qmax)
    return torch.clamp(code, qmin, qmax), in_range


def _dequantize(q: Tensor, scale: Any, zero_point: Any, axis: int | None) -> Tensor:
    import torch

    s = _broadcast(torch.as_tensor(scale, dtype=torch.float32, device=q.device), axis, q.ndim)
    z = _broadcast(torch.as_tensor(zero_point, device=q.device), axis, q.ndim)
    return (q.to(torch.int32) - z).to(torch.float32) * s  # s (q - z), in float32


@dataclass(frozen=True, eq=False)
class QuantizedTensor:
    r"""Integer codes and the parameters that give them a meaning: :math:`\hat x = s\,(q - z)`.

    Fields: ``q`` the codes, an integer tensor shaped like the input (``uint8`` for affine,
    ``int8`` for symmetric, up to 8 bits; ``int32`` beyond); ``scale`` :math:`s` and
    ``zero_point`` :math:`z`, a float and an int per tensor, or (``axis`` set) a float32 and
    an int32 1-D tensor with one entry per index along ``axis``; ``num_bits``; ``symmetric``;
    ``axis``.

    ``qmin``/``qmax`` are the codes :func:`qrange` allows; ``clip_range`` the real interval
    :math:`[s(q_{\min} - z),\ s(q_{\max} - z)]` between the lowest and the highest level;
    :meth:`dequantize` the real values.
    """

    q: Tensor
    scale: float | Tensor
    zero_point: int | Tensor
    num_bits: int
    symmetric: bool
    axis: int | None = None

    @property
    def qmin(self) -> int:
        return qrange(self.num_bits, self.symmetric)[0]

    @property
    def qmax(self) -> int:
        return qrange(self.num_bits, self.symmetric)[1]

    @property
    def clip_range(self) -> tuple[Any, Any]:
        """The lowest and the highest level, ``s (qmin - z)`` and ``s (qmax - z)``."""
        return (self.scale * (self.qmin - self.zero_point),
                self.scale * (self.qmax - self.zero_point))

    def dequantize(self) -> Tensor:
        r"""The real values :math:`\hat x = s\,(q - z)`, in float32 (the dtype of the scale)."""
        return _dequantize(self.q, self.scale, self.zero_point, self.axis)


def _code_dtype(num_bits: int, symmetric: bool) -> Any:
    import torch

    if num_bits <= 8:
        return torch.int8 if symmetric else torch.uint8  # one byte per code
    return torch.int32


def quantize(
    x: Tensor,
    num_bits: int = 8,
    symmetric: bool = False,
    axis: int | None = None,
    *,
    scale: float | Tensor | None = None,
    zero_point: int | Tensor | None = None,
) -> QuantizedTensor:
    r"""Quantize ``x`` to ``num_bits``-bit integer codes, per tensor or per channel.

    Symbols: input :math:`x`; scale :math:`s`; zero point :math:`z`; codes
    :math:`[q_{\min}, q_{\max}]` from :func:`qrange` (:math:`[0, 2^b - 1]` affine,
    :math:`[-2^{b-1}, 2^{b-1} - 1]` symmetric, with :math:`z = 0`).

    .. math::

        q &= \operatorname{clamp}\big(\operatorname{round}(x / s) + z,\ q_{\min},\ q_{\max}\big)\\
        \hat x &= s\,(q - z)
            && \text{(}\texttt{.dequantize()}\text{)}\\
        |\hat x - x| &\le s/2
            \quad\text{for } s(q_{\min} - z) \le x \le s(q_{\max} - z)

    Outside that interval :math:`x` is clipped to the nearest end. Without ``scale`` and
    ``zero_point``, they come from :func:`qparams` of :func:`calibrate_minmax` of ``x``, so
    all of ``x`` lies within half a step of the grid. With ``axis``, each index along it (an
    output channel of a weight, say) gets its own :math:`s` and :math:`z`.

    Conventions: ``round`` is ``torch.round``, round half to even (:math:`2.5 \to 2`,
    :math:`3.5 \to 4`, :math:`-0.5 \to -0`), as in torch's kernels (C's ``nearbyint``),
    not half away from zero as in school; then the clamp. The scale is a float32 number and
    :math:`x/s` is computed as :math:`x \cdot (1/s)` with the reciprocal in float32, as
    torch does: :math:`x/s` itself would round the other way for a few :math:`x` right on a
    boundary. The zero point is added *after* rounding, as in torch's fake-quantize ops;
    ``torch.quantize_per_tensor`` (FBGEMM) rounds :math:`x/s + z` instead, which differs
    at exact ties when :math:`z` is odd (:math:`-65.5 + 77 \to 12`, here :math:`-66 + 77 = 11`).
    A given ``scale`` is rounded to float32; a per-channel ``scale`` or
    ``zero_point`` may be one number, repeated for every channel. With ``symmetric=True``
    and a ``scale``, ``zero_point`` defaults to 0; with ``symmetric=False`` it is required.

    Example:
        >>> import torch
        >>> qt = quantize(torch.tensor([-1.0, 0.0, 0.375, 0.625, 2.75]), num_bits=4)
        >>> qt.scale, qt.zero_point, qt.qmin, qt.qmax    # s = 3.75 / 15
        (0.25, 4, 0, 15)
        >>> qt.q                                         # 1.5 and 2.5 steps both round to 2
        tensor([ 0,  4,  6,  6, 15], dtype=torch.uint8)
        >>> qt.dequantize()
        tensor([-1.0000,  0.0000,  0.5000,  0.5000,  2.7500])
        >>> quantize(torch.tensor([[1.0, -0.5], [0.25, 4.0]]), 8, True, axis=0).q
        tensor([[127, -64],
                [  8, 127]], dtype=torch.int8)

    References: Jacob et al. (CVPR 2018); Nagel et al., "A white paper on neural network
    quantization" (arXiv:2106.08295, 2021).
    """
    x, num_bits, symmetric, axis, scale, zero_point = _resolve(
        x, num_bits, symmetric, axis, scale, zero_point)
    qmin, qmax = qrange(num_bits, symmetric)
    code, _ = _round_clamp(x, scale, zero_point, qmin, qmax, axis)
    return QuantizedTensor(code.to(_code_dtype(num_bits, symmetric)), scale, zero_point,
                           num_bits, symmetric, axis)


@functools.cache
def _fake_quantize_function() -> Any:
    """The autograd function, made on first use so that importing this module needs no torch."""
    import torch

    class FakeQuantizeSTE(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, scale, zero_point, num_bits, symmetric, axis):
            qmin, qmax = qrange(num_bits, symmetric)
            code, in_range = _round_clamp(x, scale, zero_point, qmin, qmax, axis)
            ctx.save_for_backward(in_range)
            return _dequantize(code, scale, zero_point, axis).to(x.dtype)

        @staticmethod
        def backward(ctx, grad_output):
            (in_range,) = ctx.saved_tensors
            return grad_output * in_range, None, None, None, None, None  # dL/dx = dL/dx̂ · 1[in]

    return FakeQuantizeSTE


def fake_quantize(
    x: Tensor,
    num_bits: int = 8,
    symmetric: bool = False,
    axis: int | None = None,
    *,
    scale: float | Tensor | None = None,
    zero_point: int | Tensor | None = None,
) -> Tensor:
    r"""Quantize and dequantize in one step, with the straight-through gradient.

    Symbols as in :func:`quantize`; :math:`u = \operatorname{round}(x/s) + z` the code before
    the clamp; :math:`L` the loss.

    .. math::

        \hat x &= s\,\big(\operatorname{clamp}(u,\ q_{\min},\ q_{\max}) - z\big)\\
        \frac{\partial L}{\partial x} &= \frac{\partial L}{\partial \hat x}\cdot
            \mathbb 1\big[q_{\min} \le u \le q_{\max}\big]

    The forward pass shows the network the rounding error it will meet after quantization;
    the true derivative of a staircase is 0 almost everywhere, so the backward pass pretends
    the rounding was the identity (the straight-through estimator) and keeps only the clip:
    no gradient where :math:`x` was clipped. Same dtype and shape as ``x``; no gradient for
    ``scale`` or ``zero_point`` (learning them is LSQ, another method).

    Convention: the mask tests the *rounded* code :math:`u`, as
    ``torch.fake_quantize_per_tensor_affine`` does, so the gradient is 1 on
    :math:`[s(q_{\min} - z - \tfrac12),\ s(q_{\max} - z + \tfrac12)]` (ends by the rounding),
    half a step wider on each side than the clip range
    :math:`[s(q_{\min} - z),\ s(q_{\max} - z)]` of the usual description: an :math:`x` that
    rounds to the last level counts as inside. The values and the gradient equal torch's for
    float32 input; the arithmetic is float32 (for float64 input the result is cast back, as
    the per-tensor torch op does; the per-channel torch op multiplies in float64 and can
    differ in the last bit).

    Example:
        >>> import torch
        >>> x = torch.tensor([-1.0, 0.3, 1.2, 5.0], requires_grad=True)
        >>> y = fake_quantize(x, num_bits=4, scale=0.1, zero_point=3)  # levels -0.3 .. 1.2
        >>> y
        tensor([-0.3000,  0.3000,  1.2000,  1.2000], grad_fn=<FakeQuantizeSTEBackward>)
        >>> y.sum().backward(); x.grad
        tensor([0., 1., 1., 0.])

    References: Bengio, Léonard & Courville, "Estimating or propagating gradients through
    stochastic neurons for conditional computation" (arXiv:1308.3432, 2013); Jacob et al.
    (CVPR 2018).
    """
    x, num_bits, symmetric, axis, scale, zero_point = _resolve(
        x, num_bits, symmetric, axis, scale, zero_point)
    return _fake_quantize_function().apply(x, scale, zero_point, num_bits, symmetric, axis)
