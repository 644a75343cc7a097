"""Run an update rule on a 2-D landscape and keep the whole path.

>>> from dlopt_lab.landscapes import quadratic
>>> from dlopt_lab.optim import sgd
>>> traj = run(quadratic(kappa=10), sgd(lr=0.5), num_steps=50)
>>> traj.path.shape, traj.diverged
((51, 2), False)

A run that blows up stops at the first non-finite (or absurdly large) iterate, records where,
and returns quietly: no overflow warnings, no NaNs plotted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlopt_lab.landscapes import Landscape, get_landscape
from dlopt_lab.optim.functional import UpdateRule, check_hparam

__all__ = ["Trajectory", "run"]


@dataclass(frozen=True)
class Trajectory:
    """The result of :func:`run`.

    Attributes:
        path: iterates ``x_0, x_1, ..., x_n``, shape ``(n + 1, 2)``; all finite.
        values: the loss at each iterate, shape ``(n + 1,)``.
        diverged: ``True`` if the run stopped early because the iterates blew up.
        message: a sentence saying how the run ended, for a plot title or a print.
        rule: the update rule's description (``"sgd(lr=0.5, ...)"``).
        landscape: the landscape's title.
    """

    path: np.ndarray
    values: np.ndarray
    diverged: bool
    message: str
    rule: str
    landscape: str

    @property
    def num_steps(self) -> int:
        """How many steps were taken (``len(path) - 1``)."""
        return len(self.path) - 1

    @property
    def final(self) -> np.ndarray:
        """The last finite iterate."""
        return self.path[-1]

    def distance_to(self, point: Any) -> np.ndarray:
        """Euclidean distance of every iterate to ``point``, shape ``(n + 1,)``."""
        d = self.path - np.asarray(point, dtype=float)
        return np.hypot(d[:, 0], d[:, 1])  # hypot, not sqrt(x^2 + y^2): no underflow below 1e-154


def run(
    landscape: Landscape | str,
    rule: UpdateRule,
    x0: Any = None,
    num_steps: int = 100,
    *,
    noise_std: float = 0.0,
    seed: int | None = 0,
    max_norm: float = 1e6,
) -> Trajectory:
    r"""Apply ``rule`` to ``landscape`` for ``num_steps`` steps from ``x0``.

    Args:
        landscape: a :class:`~dlopt_lab.landscapes.Landscape` or its name.
        rule: an :class:`~dlopt_lab.optim.functional.UpdateRule`, e.g. ``sgd(lr=0.1)``.
        x0: the starting point, shape ``(2,)``; default: the landscape's ``start``.
        num_steps: number of updates, at least 1.
        noise_std: standard deviation of Gaussian noise added to every gradient coordinate,
            a stand-in for the noise of a mini-batch gradient (:math:`\tilde g = \nabla f + \xi`,
            :math:`\xi \sim \mathcal N(0, \sigma^2 I)`, unbiased).
        seed: seed of the noise generator (ignored when ``noise_std == 0``).
        max_norm: an iterate farther than this from the origin counts as diverged.

    Returns:
        a :class:`Trajectory`; if the iterates blow up, the path ends at the last finite
        iterate and ``diverged`` is ``True``.
    """
    land = get_landscape(landscape)
    if not isinstance(rule, UpdateRule):
        raise ValueError(f"rule must be an UpdateRule such as sgd(lr=0.1), got {type(rule).__name__}")
    if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer, got {num_steps!r}")
    noise_std = check_hparam("noise_std", noise_std, low=0.0)
    if (isinstance(max_norm, bool) or not isinstance(max_norm, (int, float, np.integer, np.floating))
            or not max_norm > 0):
        raise ValueError(f"max_norm must be a positive number (inf: no limit), got {max_norm!r}")
    try:
        x = np.array(land.start if x0 is None else x0, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"x0 must be a finite point of shape (2,), got {x0!r}") from None
    if x.shape != (2,) or not np.all(np.isfinite(x)):
        raise ValueError(f"x0 must be a finite point of shape (2,), got {x0!r}")

    rng = np.random.default_rng(seed)
    path = [x]
    values = [float(land.value_fn(x))]
    state = rule.init(x)
    diverged = False
    message = f"{num_steps} steps"
    # Inside the loop overflow is expected on a diverging run; we detect it and stop instead.
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, num_steps + 1):
            g = land.grad_fn(x)
            if noise_std:
                g = g + noise_std * rng.standard_normal(2)
            x, state = rule.step(x, g, state)
            value = float(land.value_fn(x))
            if not (np.all(np.isfinite(x)) and math.isfinite(value)) or np.linalg.norm(x) > max_norm:
                diverged = True
                message = f"diverged at step {t}"
                break
            path.append(x)
            values.append(value)
    return Trajectory(
        path=np.array(path),
        values=np.array(values),
        diverged=diverged,
        message=message,
        rule=repr(rule),
        landscape=land.title,
    )
