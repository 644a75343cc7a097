"""Figures: landscapes with paths, and loss curves. Each function takes ``ax=None`` and returns it.

Nothing here computes an optimization; it only draws what :mod:`dlopt_lab.trajectories` and
the training code return.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from dlopt_lab.landscapes import LANDSCAPES, Landscape, get_landscape
from dlopt_lab.trajectories import Trajectory

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_landscape", "plot_loss", "plot_path", "use_book_style"]

_GRID_CACHE: dict[tuple[Any, ...], tuple[Any, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}


def _axes(ax: Axes | None, figsize: tuple[float, float] = (5.0, 4.0)) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def use_book_style() -> None:
    """Matplotlib settings shared by the book's figures: readable sizes, no top/right spines."""
    import matplotlib as mpl

    mpl.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "font.size": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": False,
            "legend.frameon": False,
            "figure.facecolor": "white",
        }
    )


_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _power_of_ten(value: float, pos: Any = None) -> str:
    """Label a decade as 10⁻³ in plain Unicode: no mathtext, so ticks draw several times faster."""
    if not value > 0:
        return ""
    e = math.log10(value)
    if abs(e - round(e)) > 1e-9:
        return ""
    e = int(round(e))
    return {0: "1", 1: "10"}.get(e, "10" + str(e).translate(_SUPERSCRIPTS))


def _log_y(ax: Axes) -> None:
    """A logarithmic y axis with ticks at decades only (minor ticks cost more than they say)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, numticks=8))
    ax.yaxis.set_major_formatter(FuncFormatter(_power_of_ten))
    ax.yaxis.set_minor_locator(NullLocator())


def plot_landscape(
    landscape: Landscape | str,
    ax: Axes | None = None,
    *,
    levels: int = 30,
    resolution: int = 200,
    filled: bool = True,
    show_minima: bool = True,
) -> Axes:
    """Contours of ``landscape`` over its bounds, with its minima (stars) and saddles (crosses).

    Steep landscapes (``log_levels``) get logarithmically spaced levels, so the valley floor
    shows as well as the walls.
    """
    land = get_landscape(landscape)
    ax = _axes(ax)
    # A built-in landscape is determined by its name and parameters; any other one by its own
    # value function (kept alive in the cache, so its id cannot be reused by another object).
    builtin = land.name in LANDSCAPES and land.value_fn.__module__ == "dlopt_lab.landscapes"
    key = (land.name, land.bounds, tuple(sorted(land.params.items())), resolution,
           None if builtin else id(land.value_fn))
    if key not in _GRID_CACHE:
        _GRID_CACHE.clear()  # one landscape at a time is all an explorer needs
        _GRID_CACHE[key] = (land.value_fn, land.grid(resolution))
    X, Y, Z = _GRID_CACHE[key][1]
    if land.log_levels:
        lo = max(float(Z.min()), 0.0)
        span = float(Z.max()) - lo
        lv = lo + np.geomspace(1e-3 * span + 1e-12, span, levels)
    else:
        lv = np.linspace(float(Z.min()), float(Z.max()), levels)
    if filled:
        ax.contourf(X, Y, Z, levels=lv, cmap="viridis", alpha=0.55, extend="both")
    ax.contour(X, Y, Z, levels=lv, colors="k", linewidths=0.35, alpha=0.5)
    if show_minima:
        for i, (mx, my) in enumerate(land.minima):
            ax.plot(mx, my, marker="*", ms=13 if i == 0 else 9, color="gold", mec="k", mew=0.7,
                    ls="none", zorder=5)
        for sx, sy in land.saddle_points:
            ax.plot(sx, sy, marker="X", ms=9, color="white", mec="k", mew=0.7, ls="none", zorder=5)
    (x0, x1), (y0, y1) = land.bounds
    ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="x", ylabel="y", title=land.title)
    ax.set_aspect("equal" if abs((x1 - x0) / (y1 - y0) - 1) < 0.6 else "auto")
    return ax


def plot_path(
    trajectory: Trajectory,
    ax: Axes | None = None,
    *,
    label: str | None = None,
    color: str | None = None,
    markers: bool = True,
    max_points: int = 400,
) -> Axes:
    """Draw a trajectory's path: a line through the iterates, the start circled, the end marked.

    Long paths are thinned to ``max_points`` points for drawing (the first and last kept).
    """
    ax = _axes(ax)
    p = trajectory.path
    if len(p) > max_points:
        idx = np.unique(np.r_[np.linspace(0, len(p) - 1, max_points).astype(int), len(p) - 1])
        p = p[idx]
    (line,) = ax.plot(p[:, 0], p[:, 1], "-", color=color, lw=1.4, label=label, zorder=6,
                      marker="o" if markers else None, ms=2.5)
    c = line.get_color()
    ax.plot(*p[0], "o", ms=7, color=c, mfc="white", mec=c, mew=1.5, zorder=7)
    ax.plot(*p[-1], "X" if trajectory.diverged else "s", ms=7, color=c, mec="k", mew=0.6, zorder=7)
    return ax


def _xs(x: Sequence[float] | np.ndarray | None, n: int, label: str) -> np.ndarray:
    if x is None:
        return np.arange(n)
    xs = np.asarray(x, dtype=float)
    if xs.shape != (n,):
        raise ValueError(f"x has shape {xs.shape}, but curve {label!r} has {n} points")
    return xs


def plot_loss(
    curves: Mapping[str, Sequence[float] | np.ndarray] | Sequence[float] | np.ndarray,
    ax: Axes | None = None,
    *,
    logy: bool = True,
    xlabel: str = "step",
    ylabel: str = "loss",
    reference: Mapping[str, Any] | None = None,
    x: Sequence[float] | np.ndarray | None = None,
) -> Axes:
    """Loss (or any quantity) against the step, one line per curve.

    Args:
        curves: one sequence, or a mapping ``label -> sequence``.
        logy: logarithmic y axis (the natural scale for linear convergence).
        reference: optional dashed lines, ``label -> sequence`` (e.g. a predicted rate).
        x: the x values of every curve (default ``0, 1, 2, ...``), e.g. epochs ``1..n``.
    """
    ax = _axes(ax, figsize=(5.0, 3.2))
    if not isinstance(curves, Mapping):
        curves = {"": curves}
    for lab, ys in curves.items():
        ys = np.asarray(ys, dtype=float)
        if ys.ndim != 1:
            raise ValueError(f"curves[{lab!r}] must be one-dimensional, got shape {ys.shape}")
        ax.plot(_xs(x, len(ys), lab), ys, label=lab or None, lw=1.6)
    for lab, ys in (reference or {}).items():
        ys = np.asarray(ys, dtype=float)
        if ys.ndim != 1:
            raise ValueError(f"reference[{lab!r}] must be one-dimensional, got shape {ys.shape}")
        ax.plot(_xs(x, len(ys), lab), ys, "--", color="0.3", lw=1.2, label=lab)
    if logy:
        _log_y(ax)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    if any(curves) or reference:
        ax.legend(loc="best")
    return ax
