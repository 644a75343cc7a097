r"""Two-dimensional test functions, the landscapes on which the book watches optimizers move.

A :class:`Landscape` bundles a loss :math:`f(x, y)`, its analytic gradient, its Hessian, its
known minima (and saddle points) and the box in which to draw it. Values and gradients take
arrays of shape ``(..., 2)``, so one call evaluates a whole grid. Values use only arithmetic,
so they also work on torch tensors, and autograd can check the analytic gradients.

==================  =============================================================  ============
name                :math:`f(x, y)`                                                minima
==================  =============================================================  ============
``quadratic``       :math:`\tfrac12(L x'^2 + \mu y'^2)`, rotated by ``angle``       1
``rosenbrock``      :math:`(a - x)^2 + b (y - x^2)^2`                              1
``beale``           :math:`\sum_i (c_i - x + x y^i)^2`, c = (1.5, 2.25, 2.625)      1
``himmelblau``      :math:`(x^2 + y - 11)^2 + (x + y^2 - 7)^2`                     4
``saddle``          :math:`\tfrac12 (x^2 - y^2)`                                   0 (a saddle)
``six_hump_camel``  :math:`(4 - 2.1x^2 + x^4/3)x^2 + xy + (4y^2 - 4)y^2`           6 (2 global)
==================  =============================================================  ============
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "LANDSCAPES",
    "Landscape",
    "beale",
    "get_landscape",
    "himmelblau",
    "quadratic",
    "rosenbrock",
    "saddle",
    "six_hump_camel",
]

Point = tuple[float, float]


@dataclass(frozen=True)
class Landscape:
    """A 2-D loss with everything needed to optimize it and draw it.

    Attributes:
        name: short identifier (``"rosenbrock"``).
        title: a label for plots, with the parameters (``"Rosenbrock (a=1, b=100)"``).
        value_fn: ``f(xy)`` for ``xy`` of shape ``(..., 2)``; returns shape ``(...)``.
        grad_fn: the analytic gradient; returns shape ``(..., 2)``.
        hessian_fn: the analytic Hessian at one point; returns shape ``(2, 2)``.
        minima: the known local minima; the global ones first.
        saddle_points: known saddle points (for ``saddle``).
        bounds: ``((xmin, xmax), (ymin, ymax))``, the box to draw.
        start: a default starting point that makes a good demonstration.
        log_levels: whether contour levels should be spaced logarithmically (steep valleys).
    """

    name: str
    title: str
    value_fn: Callable[[Any], Any]
    grad_fn: Callable[[np.ndarray], np.ndarray]
    hessian_fn: Callable[[np.ndarray], np.ndarray]
    minima: tuple[Point, ...]
    bounds: tuple[Point, Point]
    start: Point
    saddle_points: tuple[Point, ...] = ()
    log_levels: bool = False
    params: dict[str, float] = field(default_factory=dict)

    def __call__(self, xy: Any) -> Any:
        """The loss at ``xy`` (shape ``(..., 2)``); NumPy arrays, lists or torch tensors."""
        return self.value_fn(_as_points(xy, "xy"))

    def gradient(self, xy: Any) -> np.ndarray:
        """The analytic gradient at ``xy`` (shape ``(..., 2)``), as a float64 array."""
        return self.grad_fn(np.asarray(_as_points(xy, "xy"), dtype=np.float64))

    def hessian(self, xy: Any) -> np.ndarray:
        """The analytic Hessian at one point ``xy`` (shape ``(2,)``), a ``(2, 2)`` array."""
        p = np.asarray(_as_points(xy, "xy"), dtype=np.float64)
        if p.shape != (2,):
            raise ValueError(f"xy must be a single point of shape (2,), got shape {p.shape}")
        return self.hessian_fn(p)

    @property
    def global_minimum(self) -> Point | None:
        """The first listed minimum (a global one), or ``None`` if the landscape has none."""
        return self.minima[0] if self.minima else None

    @property
    def min_value(self) -> float | None:
        """The loss at the global minimum, or ``None``."""
        m = self.global_minimum
        return None if m is None else float(self(np.array(m)))

    def grid(self, resolution: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(X, Y, Z)`` on a ``resolution x resolution`` grid over :attr:`bounds`, for contours."""
        if not isinstance(resolution, (int, np.integer)) or resolution < 2:
            raise ValueError(f"resolution must be an integer >= 2, got {resolution!r}")
        (x0, x1), (y0, y1) = self.bounds
        X, Y = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
        return X, Y, self.value_fn(np.stack([X, Y], axis=-1))

    def __repr__(self) -> str:
        return f"Landscape({self.title!r})"


def _as_points(xy: Any, name: str) -> Any:
    """Check that ``xy`` ends in a dimension of size 2; torch tensors pass through unchanged."""
    if type(xy).__module__.startswith("torch"):
        if xy.ndim == 0 or xy.shape[-1] != 2:
            raise ValueError(f"{name} must have shape (..., 2), got {tuple(xy.shape)}")
        return xy
    arr = np.asarray(xy)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 0 or arr.shape[-1] != 2:
        raise ValueError(f"{name} must have shape (..., 2), got {arr.shape}")
    return arr.astype(np.float64, copy=False)


def _stack(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    return np.stack([gx, gy], axis=-1)


# --------------------------------------------------------------------------------------------
# The landscapes
# --------------------------------------------------------------------------------------------


def quadratic(kappa: float = 10.0, L: float = 1.0, angle: float = 0.0) -> Landscape:
    r"""An ill-conditioned quadratic bowl :math:`f = \tfrac12 (L x'^2 + \mu y'^2)`, :math:`\mu = L/\kappa`.

    :math:`(x', y')` are the coordinates rotated by ``angle`` (radians), so with ``angle=0`` the
    Hessian is :math:`\operatorname{diag}(L, \mu)`: largest curvature :math:`L` (the smoothness
    constant), smallest :math:`\mu`, condition number :math:`\kappa = L/\mu`. The minimum is at
    the origin with :math:`f = 0`.
    """
    kappa = _positive("kappa", kappa)
    if kappa < 1:
        raise ValueError(f"kappa must be >= 1 (it is L/mu), got {kappa}")
    L = _positive("L", L)
    angle = float(angle)
    mu = L / kappa
    c, s = math.cos(angle), math.sin(angle)
    R = np.array([[c, -s], [s, c]])  # columns: the eigenvectors
    H = R @ np.diag([L, mu]) @ R.T

    def value(p: Any) -> Any:
        x, y = p[..., 0], p[..., 1]
        return 0.5 * (H[0, 0] * x**2 + 2 * H[0, 1] * x * y + H[1, 1] * y**2)

    def grad(p: np.ndarray) -> np.ndarray:
        return p @ H  # H is symmetric

    # Start on a diagonal of the bowl, so both curvatures matter.
    extent = 2.0
    start = tuple(float(v) for v in R @ np.array([-1.8, 1.2]))
    return Landscape(
        name="quadratic",
        title=f"quadratic (κ={kappa:g})",
        value_fn=value,
        grad_fn=grad,
        hessian_fn=lambda p: H.copy(),
        minima=((0.0, 0.0),),
        bounds=((-extent, extent), (-extent, extent)),
        start=start,
        params={"kappa": kappa, "L": L, "mu": mu, "angle": angle},
    )


def rosenbrock(a: float = 1.0, b: float = 100.0) -> Landscape:
    r"""Rosenbrock's banana valley :math:`(a - x)^2 + b (y - x^2)^2`; minimum :math:`(a, a^2)`."""
    a = float(a)
    b = _positive("b", b)

    def value(p: Any) -> Any:
        x, y = p[..., 0], p[..., 1]
        return (a - x) ** 2 + b * (y - x**2) ** 2

    def grad(p: np.ndarray) -> np.ndarray:
        x, y = p[..., 0], p[..., 1]
        return _stack(-2 * (a - x) - 4 * b * x * (y - x**2), 2 * b * (y - x**2))

    def hess(p: np.ndarray) -> np.ndarray:
        x, y = p
        return np.array([[2 - 4 * b * (y - 3 * x**2), -4 * b * x], [-4 * b * x, 2 * b]])

    return Landscape(
        name="rosenbrock",
        title=f"Rosenbrock (a={a:g}, b={b:g})",
        value_fn=value,
        grad_fn=grad,
        hessian_fn=hess,
        minima=((a, a * a),),
        bounds=((-2.0, 2.0), (-1.0, 3.0)),
        start=(-1.5, 2.0),
        log_levels=True,
        params={"a": a, "b": b},
    )


_BEALE_C = (1.5, 2.25, 2.625)


def beale() -> Landscape:
    r"""Beale's function :math:`\sum_{i=1}^{3} (c_i - x + x y^i)^2`; minimum :math:`(3, 0.5)`."""

    def value(p: Any) -> Any:
        x, y = p[..., 0], p[..., 1]
        return sum((c - x + x * y ** (i + 1)) ** 2 for i, c in enumerate(_BEALE_C))

    def grad(p: np.ndarray) -> np.ndarray:
        x, y = p[..., 0], p[..., 1]
        gx = np.zeros_like(x)
        gy = np.zeros_like(y)
        for i, c in enumerate(_BEALE_C):
            k = i + 1
            r = c - x + x * y**k
            gx = gx + 2 * r * (y**k - 1)
            gy = gy + 2 * r * k * x * y ** (k - 1)
        return _stack(gx, gy)

    def hess(p: np.ndarray) -> np.ndarray:
        x, y = p
        h = np.zeros((2, 2))
        for i, c in enumerate(_BEALE_C):
            k = i + 1
            r = c - x + x * y**k
            rx, ry = y**k - 1, k * x * y ** (k - 1)
            rxy = k * y ** (k - 1)
            ryy = k * (k - 1) * x * y ** (k - 2) if k >= 2 else 0.0
            h += 2 * np.array([[rx * rx, rx * ry + r * rxy], [rx * ry + r * rxy, ry * ry + r * ryy]])
        return h

    return Landscape(
        name="beale",
        title="Beale",
        value_fn=value,
        grad_fn=grad,
        hessian_fn=hess,
        minima=((3.0, 0.5),),
        bounds=((-4.5, 4.5), (-4.5, 4.5)),
        start=(1.0, 1.5),
        log_levels=True,
    )


def himmelblau() -> Landscape:
    r"""Himmelblau's function :math:`(x^2 + y - 11)^2 + (x + y^2 - 7)^2`: four minima, all at 0."""

    def value(p: Any) -> Any:
        x, y = p[..., 0], p[..., 1]
        return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2

    def grad(p: np.ndarray) -> np.ndarray:
        x, y = p[..., 0], p[..., 1]
        u, v = x**2 + y - 11, x + y**2 - 7
        return _stack(4 * x * u + 2 * v, 2 * u + 4 * y * v)

    def hess(p: np.ndarray) -> np.ndarray:
        x, y = p
        u, v = x**2 + y - 11, x + y**2 - 7
        hxy = 4 * x + 4 * y
        return np.array([[4 * u + 8 * x**2 + 2, hxy], [hxy, 2 + 4 * v + 8 * y**2]])

    return Landscape(
        name="himmelblau",
        title="Himmelblau",
        value_fn=value,
        grad_fn=grad,
        hessian_fn=hess,
        minima=(
            (3.0, 2.0),
            (-2.805118086952745, 3.131312518250573),
            (-3.779310253377747, -3.283185991286170),
            (3.584428340330492, -1.848126526964404),
        ),
        bounds=((-5.0, 5.0), (-5.0, 5.0)),
        start=(-0.5, -0.5),
        log_levels=True,
    )


def saddle() -> Landscape:
    r"""A saddle :math:`\tfrac12(x^2 - y^2)`: a critical point at the origin that is no minimum.

    It has no minimum (it is unbounded below along :math:`y`). Started exactly on the
    :math:`x`-axis, gradient descent walks into the saddle and stops; any offset in :math:`y`
    grows like :math:`(1 + \eta)^t` and carries it away.
    """

    def value(p: Any) -> Any:
        x, y = p[..., 0], p[..., 1]
        return 0.5 * (x**2 - y**2)

    def grad(p: np.ndarray) -> np.ndarray:
        return p * np.array([1.0, -1.0])

    return Landscape(
        name="saddle",
        title="saddle",
        value_fn=value,
        grad_fn=grad,
        hessian_fn=lambda p: np.diag([1.0, -1.0]),
        minima=(),
        saddle_points=((0.0, 0.0),),
        bounds=((-2.0, 2.0), (-2.0, 2.0)),
        start=(-1.8, 0.01),
    )


def six_hump_camel() -> Landscape:
    r"""The six-hump camel :math:`(4 - 2.1x^2 + x^4/3)x^2 + xy + (4y^2 - 4)y^2`: six minima.

    Two global minima, :math:`f \approx -1.0316` at :math:`\pm(0.0898, -0.7126)`, and four local
    ones, so where gradient descent ends depends on where it starts.
    """

    def value(p: Any) -> Any:
        x, y = p[..., 0], p[..., 1]
        return (4 - 2.1 * x**2 + x**4 / 3) * x**2 + x * y + (4 * y**2 - 4) * y**2

    def grad(p: np.ndarray) -> np.ndarray:
        x, y = p[..., 0], p[..., 1]
        return _stack(8 * x - 8.4 * x**3 + 2 * x**5 + y, x - 8 * y + 16 * y**3)

    def hess(p: np.ndarray) -> np.ndarray:
        x, y = p
        return np.array([[8 - 25.2 * x**2 + 10 * x**4, 1.0], [1.0, -8 + 48 * y**2]])

    minima = (
        (0.08984201310031806, -0.7126564030207396),
        (-0.08984201310031806, 0.7126564030207396),
        (1.7036067132900667, -0.7960835686154045),
        (-1.7036067132900667, 0.7960835686154045),
        (1.6071047529230538, 0.5686514895350569),
        (-1.6071047529230538, -0.5686514895350569),
    )
    return Landscape(
        name="six_hump_camel",
        title="six-hump camel",
        value_fn=value,
        grad_fn=grad,
        hessian_fn=hess,
        minima=minima,
        bounds=((-2.2, 2.2), (-1.2, 1.2)),
        start=(-1.0, -1.0),
    )


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


LANDSCAPES: dict[str, Callable[..., Landscape]] = {
    "quadratic": quadratic,
    "rosenbrock": rosenbrock,
    "beale": beale,
    "himmelblau": himmelblau,
    "saddle": saddle,
    "six_hump_camel": six_hump_camel,
}


def get_landscape(name: str | Landscape, **kwargs: Any) -> Landscape:
    """The landscape called ``name`` (see :data:`LANDSCAPES`), built with ``kwargs``.

    A :class:`Landscape` passes through unchanged, so functions can take either.

    >>> get_landscape("quadratic", kappa=25).params["mu"]
    0.04
    """
    if isinstance(name, Landscape):
        if kwargs:
            raise ValueError("landscape: keyword arguments apply to a name, not a Landscape")
        return name
    if name not in LANDSCAPES:
        allowed = ", ".join(sorted(LANDSCAPES))
        raise ValueError(f"Unknown landscape {name!r}; choose one of: {allowed}")
    return LANDSCAPES[name](**kwargs)
