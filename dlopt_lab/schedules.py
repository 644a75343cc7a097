r"""Learning-rate schedules: the learning rate as a function of the step.

Each factory (:func:`constant`, :func:`step_decay`, :func:`exponential_decay`,
:func:`cosine_annealing`, :func:`warmup_cosine`, :func:`one_cycle`) validates its arguments
and returns a :class:`Schedule`: a small frozen dataclass that maps a step to a learning
rate, ``schedule(step) -> lr``, and draws itself with ``schedule.values(num_steps)``.

**Step numbering.** ``step = 0`` is the learning rate of the *first* optimizer step; ``step = k``
is the learning rate of step ``k + 1``, after ``k`` updates. In ``torch.optim.lr_scheduler``
terms, ``schedule(0)`` is ``scheduler.get_last_lr()[0]`` right after the scheduler is built
(before any ``scheduler.step()``), and ``schedule(k)`` is its value after ``k`` calls of
``scheduler.step()``, one per optimizer step. A run of ``n`` optimizer steps uses steps
``0, ..., n - 1``.

======================================  ==================================================
ours                                    ``torch.optim.lr_scheduler`` (equal at every step)
======================================  ==================================================
``constant(lr)``                        none needed (or ``ConstantLR(opt, factor=1.0)``)
``step_decay(lr, step_size, gamma)``    ``StepLR(opt, step_size, gamma)``
``exponential_decay(lr, gamma)``        ``ExponentialLR(opt, gamma)``
``cosine_annealing(lr, T, min_lr)``     ``CosineAnnealingLR(opt, T_max=T, eta_min=min_lr)``
                                        for steps ``0..T``
``warmup_cosine(lr, W, T, min_lr, s)``  ``SequentialLR`` of ``LinearLR(start_factor=s,
                                        total_iters=W)`` and ``CosineAnnealingLR(T_max=T - W,
                                        eta_min=min_lr)``, milestone ``W``, for steps ``0..T``
``one_cycle(max_lr, T, ...)``           ``OneCycleLR(opt, max_lr, total_steps=T, ...)``
                                        for steps ``0..T - 1``
======================================  ==================================================

Here the learning rate is a closed-form function of the step; torch computes most of its
schedules recursively, from the previous rate, so the two agree up to rounding
(``tests/test_schedules.py`` checks every step to a relative 1e-12). To drive a
``torch.optim`` optimizer with a schedule, set the rate before each update::

    for step, (X, y) in enumerate(batches):
        for group in optimizer.param_groups:
            group["lr"] = schedule(step)
        ...  # forward, backward, optimizer.step()

:func:`lr_range_test` runs Smith's learning-rate range test and returns an
:class:`LRRangeResult`; :func:`plot_lr_range` and :func:`plot_schedule` draw (ax in, ax out).

Importing this module imports neither torch nor matplotlib.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from dlopt_lab.optim.functional import check_hparam

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "Constant",
    "CosineAnnealing",
    "ExponentialDecay",
    "LRRangeResult",
    "OneCycle",
    "Schedule",
    "StepDecay",
    "WarmupCosine",
    "constant",
    "cosine_annealing",
    "exponential_decay",
    "lr_range_test",
    "one_cycle",
    "plot_lr_range",
    "plot_schedule",
    "step_decay",
    "warmup_cosine",
]


# --------------------------------------------------------------------------------------------
# Validation at the boundary
# --------------------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_int(name: str, value: Any, low: int, high: int | None = None, why: str = "") -> int:
    """Return ``value`` as an int in ``[low, high]``, or raise a ValueError naming ``name``."""
    if not _is_int(value) or value < low or (high is not None and value > high):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"Invalid {name}: {value!r} (must be an integer {rng}{why})")
    return int(value)


def _check_min_lr(min_lr: Any, lr: float) -> float:
    """``min_lr`` in ``[0, lr]``: a schedule that decays to it must start above it."""
    min_lr = check_hparam("min_lr", min_lr, low=0.0)
    if min_lr > lr:
        raise ValueError(f"Invalid min_lr: {min_lr:g} (must be in [0, lr] = [0, {lr:g}])")
    return min_lr


# --------------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Schedule:
    """Base class: a learning rate for each step ``0, 1, 2, ...`` (see the module docstring).

    Subclasses define ``_lr(t)``, the formula, for a step that has been checked.
    ``last_step`` is the largest valid step (``None``: unbounded).
    """

    factory: ClassVar[str] = "schedule"

    @property
    def last_step(self) -> int | None:
        return None

    def __call__(self, step: int) -> float:
        """The learning rate of optimizer step ``step + 1`` (``step`` updates already made)."""
        last = self.last_step
        if not _is_int(step) or step < 0 or (last is not None and step > last):
            rng = ">= 0" if last is None else f"in [0, {last}]"
            raise ValueError(f"Invalid step: {step!r} (must be an integer {rng})")
        return float(self._lr(int(step)))

    def _lr(self, t: int) -> float:
        raise NotImplementedError

    def values(self, num_steps: int) -> np.ndarray:
        """The learning rates of steps ``0, ..., num_steps - 1``, as a float64 array."""
        n = _check_int("num_steps", num_steps, 0)
        return np.array([self(t) for t in range(n)], dtype=np.float64)

    def __repr__(self) -> str:
        args = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self))
        return f"{self.factory}({args})"


@dataclass(frozen=True, repr=False)
class Constant(Schedule):
    """The schedule of :func:`constant`."""

    lr: float
    factory: ClassVar[str] = "constant"

    def _lr(self, t: int) -> float:
        return self.lr


@dataclass(frozen=True, repr=False)
class StepDecay(Schedule):
    """The schedule of :func:`step_decay`."""

    lr: float
    step_size: int
    gamma: float
    factory: ClassVar[str] = "step_decay"

    def _lr(self, t: int) -> float:
        return self.lr * self.gamma ** (t // self.step_size)  # eta gamma^floor(t / s)


@dataclass(frozen=True, repr=False)
class ExponentialDecay(Schedule):
    """The schedule of :func:`exponential_decay`."""

    lr: float
    gamma: float
    factory: ClassVar[str] = "exponential_decay"

    def _lr(self, t: int) -> float:
        return self.lr * self.gamma**t  # eta gamma^t


def _cosine(lr: float, min_lr: float, t: int, total: int) -> float:
    """eta_min + (eta_max - eta_min) (1 + cos(pi t / T)) / 2 for t <= T, then eta_min."""
    if t >= total:
        return min_lr
    return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * t / total)) / 2


@dataclass(frozen=True, repr=False)
class CosineAnnealing(Schedule):
    """The schedule of :func:`cosine_annealing`."""

    lr: float
    total_steps: int
    min_lr: float
    factory: ClassVar[str] = "cosine_annealing"

    def _lr(self, t: int) -> float:
        return _cosine(self.lr, self.min_lr, t, self.total_steps)


@dataclass(frozen=True, repr=False)
class WarmupCosine(Schedule):
    """The schedule of :func:`warmup_cosine`."""

    lr: float
    warmup_steps: int
    total_steps: int
    min_lr: float
    start_factor: float
    factory: ClassVar[str] = "warmup_cosine"

    def _lr(self, t: int) -> float:
        w, s = self.warmup_steps, self.start_factor
        if t < w:
            return self.lr * (s + (1 - s) * t / w)  # eta (s + (1 - s) t / W)
        return _cosine(self.lr, self.min_lr, t - w, self.total_steps - w)


@dataclass(frozen=True, repr=False)
class OneCycle(Schedule):
    """The schedule of :func:`one_cycle`."""

    max_lr: float
    total_steps: int
    pct_start: float
    div_factor: float
    final_div_factor: float
    anneal_strategy: str
    three_phase: bool
    factory: ClassVar[str] = "one_cycle"

    @property
    def last_step(self) -> int:
        return self.total_steps - 1

    @property
    def initial_lr(self) -> float:
        return self.max_lr / self.div_factor

    @property
    def min_lr(self) -> float:
        return self.initial_lr / self.final_div_factor

    def phases(self) -> list[tuple[float, float, float]]:
        """``(end_step, start_lr, end_lr)`` of each phase; a phase starts where the last ended."""
        n, p = self.total_steps, self.pct_start
        lo, hi, end = self.initial_lr, self.max_lr, self.min_lr
        if self.three_phase:
            return [(float(p * n) - 1, lo, hi), (float(2 * p * n) - 2, hi, lo), (n - 1, lo, end)]
        return [(float(p * n) - 1, lo, hi), (n - 1, hi, end)]

    def _lr(self, t: int) -> float:
        phases, start = self.phases(), 0.0
        for i, (end, lr0, lr1) in enumerate(phases):
            if t <= end or i == len(phases) - 1:
                pct = (t - start) / (end - start)  # 0 -> 1 across the phase
                if self.anneal_strategy == "cos":
                    return lr1 + (lr0 - lr1) / 2.0 * (math.cos(math.pi * pct) + 1)
                return (lr1 - lr0) * pct + lr0
            start = end
        raise AssertionError("unreachable: the last phase takes every remaining step")


def constant(lr: float) -> Constant:
    r"""The same learning rate at every step.

    .. math::

        \eta_t = \eta

    Example:
        >>> constant(0.1)(1000)
        0.1
    """
    return Constant(check_hparam("lr", lr, low=0.0))


def step_decay(lr: float, step_size: int, gamma: float = 0.1) -> StepDecay:
    r"""Multiply the learning rate by ``gamma`` every ``step_size`` steps, as ``StepLR``.

    Symbols: initial learning rate :math:`\eta` (``lr``), period :math:`s` (``step_size``),
    factor :math:`\gamma` (``gamma``), step :math:`t`.

    .. math::

        \eta_t = \eta\,\gamma^{\lfloor t / s \rfloor}

    Conventions: equal to ``torch.optim.lr_scheduler.StepLR(opt, step_size, gamma)`` with
    ``opt``'s learning rate ``lr``; the first decay happens at step :math:`s`, after
    :math:`s` updates at the full rate. ``gamma > 1`` is allowed (torch allows it too): the
    rate then grows.

    Example:
        >>> sched = step_decay(0.1, step_size=2, gamma=0.5)
        >>> [sched(t) for t in range(5)]
        [0.1, 0.1, 0.05, 0.05, 0.025]
    """
    return StepDecay(
        check_hparam("lr", lr, low=0.0),
        _check_int("step_size", step_size, 1),
        check_hparam("gamma", gamma, low=0.0, low_open=True),
    )


def exponential_decay(lr: float, gamma: float) -> ExponentialDecay:
    r"""Multiply the learning rate by ``gamma`` at every step, as ``ExponentialLR``.

    Symbols: initial learning rate :math:`\eta`, factor :math:`\gamma`, step :math:`t`.

    .. math::

        \eta_t = \eta\,\gamma^{t}

    Conventions: equal to ``torch.optim.lr_scheduler.ExponentialLR(opt, gamma)``.
    ``gamma > 1`` is allowed (torch allows it too): the rate then grows geometrically, which
    is how :func:`lr_range_test` sweeps its rates.

    Example:
        >>> exponential_decay(1.0, gamma=0.5).values(4)
        array([1.   , 0.5  , 0.25 , 0.125])
    """
    return ExponentialDecay(
        check_hparam("lr", lr, low=0.0), check_hparam("gamma", gamma, low=0.0, low_open=True)
    )


def cosine_annealing(lr: float, total_steps: int, min_lr: float = 0.0) -> CosineAnnealing:
    r"""Half a cosine from ``lr`` down to ``min_lr`` over ``total_steps`` steps.

    Symbols: initial (largest) learning rate :math:`\eta_{\max}` (``lr``), final
    :math:`\eta_{\min}` (``min_lr``), length :math:`T` (``total_steps``), step :math:`t`.

    .. math::

        \eta_t = \begin{cases}
            \eta_{\min} + \tfrac12\,(\eta_{\max} - \eta_{\min})
                \bigl(1 + \cos(\pi t / T)\bigr) & 0 \le t \le T\\
            \eta_{\min} & t > T
        \end{cases}

    Conventions: for :math:`0 \le t \le T` this is
    ``torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps, eta_min=min_lr)``,
    which computes the same values recursively (equal up to rounding). The rate reaches
    :math:`\eta_{\min}` at step :math:`T`: a run of ``total_steps`` updates uses steps
    :math:`0..T-1` and never quite gets there. After :math:`T` ours stays at
    :math:`\eta_{\min}`; torch's keeps following the cosine and climbs back towards
    :math:`\eta_{\max}` (period :math:`2T`), so the two are compared only on :math:`[0, T]`.

    Example:
        >>> cosine_annealing(1.0, total_steps=4).values(6).round(4)
        array([1.    , 0.8536, 0.5   , 0.1464, 0.    , 0.    ])

    Reference: Loshchilov & Hutter (2017), SGDR: stochastic gradient descent with warm
    restarts, ICLR (here without the restarts).
    """
    lr = check_hparam("lr", lr, low=0.0)
    return CosineAnnealing(
        lr, _check_int("total_steps", total_steps, 1), _check_min_lr(min_lr, lr)
    )


def warmup_cosine(
    lr: float,
    warmup_steps: int,
    total_steps: int,
    min_lr: float = 0.0,
    start_factor: float | None = None,
) -> WarmupCosine:
    r"""A linear warm-up to ``lr`` over ``warmup_steps`` steps, then a cosine down to ``min_lr``.

    Symbols: peak learning rate :math:`\eta` (``lr``), final :math:`\eta_{\min}`
    (``min_lr``), warm-up length :math:`W` (``warmup_steps``), run length :math:`T`
    (``total_steps``), starting factor :math:`s` (``start_factor``), step :math:`t`.

    .. math::

        \eta_t = \begin{cases}
            \eta\,\bigl(s + (1 - s)\,t / W\bigr) & 0 \le t < W
                &\text{(warm-up: } \eta s \text{ at } t = 0\text{)}\\
            \eta_{\min} + \tfrac12\,(\eta - \eta_{\min})
                \bigl(1 + \cos(\pi\,\tfrac{t - W}{T - W})\bigr) & W \le t \le T
                &\text{(peak } \eta \text{ at } t = W\text{)}\\
            \eta_{\min} & t > T
        \end{cases}

    Conventions: for :math:`0 \le t \le T` this equals, at every step, torch's

    .. code-block:: python

        SequentialLR(opt, [LinearLR(opt, start_factor=s, end_factor=1.0, total_iters=W),
                           CosineAnnealingLR(opt, T_max=T - W, eta_min=min_lr)],
                     milestones=[W])

    The hand-over is where the off-by-one hides. ``LinearLR`` with ``total_iters=W`` reaches
    the full rate at *its* step :math:`W`, but ``SequentialLR`` switches to the cosine at step
    :math:`W` and restarts it from its own step 0 (``scheduler._update_lr(0)``), whose value
    is the cosine's base rate :math:`\eta`. So: the warm-up occupies steps :math:`0..W-1`,
    all below the peak (the last one is :math:`\eta(s + (1-s)(W-1)/W)`); the peak
    :math:`\eta` is used exactly once, at step :math:`W`; the cosine then reaches
    :math:`\eta_{\min}` at step :math:`T`, after the last of :math:`T` updates (which uses
    step :math:`T-1`). There is no repeated peak and no jump. After :math:`T` ours stays at
    :math:`\eta_{\min}`, while torch's cosine climbs again. With :math:`W = 0` this is
    :func:`cosine_annealing` (and ``SequentialLR`` with ``milestones=[0]`` gives that only
    from torch 2.13 on; earlier versions start with the warm-up's first value, pytorch issue
    #185872).

    ``start_factor`` must lie in :math:`(0, 1]`, as ``LinearLR`` requires. Its default here,
    ``None``, means :math:`s = 1/(W + 1)`: then :math:`\eta_t = \eta\,(t + 1)/(W + 1)` for
    :math:`t \le W`, a ramp in :math:`W + 1` equal increments that starts at a small but
    non-zero rate (a first step at rate 0 would be wasted) and lands on the peak. Torch's
    own default, 1/3, is meant for a ramp of a few epochs, not of many mini-batch steps.

    Example:
        >>> sched = warmup_cosine(1.0, warmup_steps=3, total_steps=7)
        >>> sched.values(8).round(3)
        array([0.25 , 0.5  , 0.75 , 1.   , 0.854, 0.5  , 0.146, 0.   ])

    References: Goyal et al. (2017), Accurate, large minibatch SGD: training ImageNet in
    1 hour (gradual warm-up); Loshchilov & Hutter (2017), SGDR (cosine decay).
    """
    lr = check_hparam("lr", lr, low=0.0)
    total_steps = _check_int("total_steps", total_steps, 1)
    warmup_steps = _check_int(
        "warmup_steps", warmup_steps, 0, total_steps - 1,
        why=", i.e. below total_steps: a warm-up as long as the run leaves nothing to decay",
    )
    min_lr = _check_min_lr(min_lr, lr)
    if start_factor is None:
        start_factor = 1.0 / (warmup_steps + 1)
    start_factor = check_hparam("start_factor", start_factor, low=0.0, high=1.0, low_open=True)
    return WarmupCosine(lr, warmup_steps, total_steps, min_lr, start_factor)


def one_cycle(
    max_lr: float,
    total_steps: int,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    anneal_strategy: str = "cos",
    three_phase: bool = False,
) -> OneCycle:
    r"""Smith's 1cycle policy, as ``OneCycleLR``: up from a small rate to ``max_lr``, then far down.

    Symbols: peak :math:`\eta_{\max}` (``max_lr``), start
    :math:`\eta_0 = \eta_{\max}/d` (``div_factor`` :math:`d`), end
    :math:`\eta_{\mathrm{end}} = \eta_0/f` (``final_div_factor`` :math:`f`), run length
    :math:`T` (``total_steps``), warm-up fraction :math:`p` (``pct_start``), step :math:`t`.
    Each phase runs from its start step :math:`a` (the previous phase's end; 0 for the first)
    to its end step :math:`b`, and anneals from :math:`\eta_{\mathrm{from}}` to
    :math:`\eta_{\mathrm{to}}` with :math:`\rho = (t - a)/(b - a)` going from 0 to 1:

    .. math::

        \eta_t &= \eta_{\mathrm{to}} + \tfrac12\,(\eta_{\mathrm{from}} - \eta_{\mathrm{to}})
                  \bigl(1 + \cos(\pi \rho)\bigr)
                  &&\text{(} \texttt{anneal\_strategy="cos"} \text{)}\\
        \eta_t &= \eta_{\mathrm{from}} + (\eta_{\mathrm{to}} - \eta_{\mathrm{from}})\,\rho
                  &&\text{(} \texttt{"linear"} \text{)}

    Two phases (default, fastai's): :math:`\eta_0 \to \eta_{\max}` ending at
    :math:`b = pT - 1`, then :math:`\eta_{\max} \to \eta_{\mathrm{end}}` ending at
    :math:`b = T - 1`. Three phases (``three_phase=True``, the paper's): up to
    :math:`pT - 1`, back down to :math:`\eta_0` at :math:`2pT - 2`, then down to
    :math:`\eta_{\mathrm{end}}` at :math:`T - 1`.

    Conventions: equal, at every step :math:`0..T-1`, to
    ``torch.optim.lr_scheduler.OneCycleLR(opt, max_lr, total_steps=T, pct_start=p, ...)``
    (the learning rate only; momentum cycling is not modelled), computed with the same
    operations in the same order. The phase ends are torch's, fractional when :math:`pT` is
    not an integer; if :math:`pT < 1` the warm-up is shorter than a step and step 0 already
    lies in the decay. Differences, all at the boundary:

    * ``step >= total_steps`` raises a ValueError. Torch raises one step later: its
      ``scheduler.step()`` after the last update gives step :math:`T`, a rate no update
      uses, extrapolated past the end (with ``"linear"`` it can be negative).
    * :math:`pT = 1` is refused (torch divides by zero there: a zero-length warm-up that
      contains step 0).
    * ``pct_start`` must lie in :math:`(0, 1)`, and in :math:`(0, 0.5]` with
      ``three_phase=True``: beyond 0.5 the second phase would end after the run, and torch's
      schedule never reaches :math:`\eta_{\mathrm{end}}`.

    Example:
        >>> sched = one_cycle(1.0, total_steps=10, pct_start=0.5, anneal_strategy="linear")
        >>> sched.values(10).round(3)
        array([0.04, 0.28, 0.52, 0.76, 1.  , 0.8 , 0.6 , 0.4 , 0.2 , 0.  ])

    References: Smith & Topin (2019), Super-convergence: very fast training of neural
    networks using large learning rates; Smith (2018), A disciplined approach to neural
    network hyper-parameters: part 1.
    """
    max_lr = check_hparam("max_lr", max_lr, low=0.0)
    total_steps = _check_int("total_steps", total_steps, 1)
    three_phase = bool(three_phase)
    pct_start = check_hparam("pct_start", pct_start, low=0.0, high=1.0, low_open=True,
                             high_open=True)
    if three_phase and pct_start > 0.5:
        raise ValueError(
            f"Invalid pct_start: {pct_start:g} (must be in (0, 0.5] with three_phase=True: the "
            f"first two phases take 2 * pct_start of the run)"
        )
    if float(pct_start * total_steps) == 1.0:
        raise ValueError(
            f"Invalid pct_start: {pct_start:g} (pct_start * total_steps must not be 1: the "
            f"warm-up phase would have length 0 and contain step 0)"
        )
    div_factor = check_hparam("div_factor", div_factor, low=0.0, low_open=True)
    final_div_factor = check_hparam("final_div_factor", final_div_factor, low=0.0, low_open=True)
    if anneal_strategy not in ("cos", "linear"):
        raise ValueError(
            f"Invalid anneal_strategy: {anneal_strategy!r} (must be 'cos' or 'linear')"
        )
    return OneCycle(max_lr, total_steps, pct_start, div_factor, final_div_factor,
                    anneal_strategy, three_phase)


# --------------------------------------------------------------------------------------------
# The learning-rate range test
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LRRangeResult:
    """What :func:`lr_range_test` measured: one entry per step it ran.

    ``lrs``: the learning rates, growing geometrically; ``losses``: the mini-batch loss at
    each (computed just before the update that uses that rate); ``smoothed``: their
    bias-corrected exponential moving average. ``lr_at_min``: the rate where ``smoothed`` is
    lowest; ``steepest_lr``: the rate where ``smoothed`` falls fastest per unit of
    :math:`\\log \\eta`; ``suggested_lr``: ``lr_at_min / 10`` (at least ``lrs[0]``).
    ``stopped_early``: the loss diverged before the last step (the diverging step is kept).
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggested_lr: float
    lr_at_min: float
    steepest_lr: float
    stopped_early: bool


def _batches(loader: Iterable[Any]) -> Iterator[Any]:
    """The loader's batches, epoch after epoch, for as long as they are asked for."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError("train_loader yielded no batches")


def _suggestions(lrs: np.ndarray, smoothed: np.ndarray) -> tuple[float, float, float]:
    """(suggested_lr, lr_at_min, steepest_lr) from the finite part of a smoothed curve."""
    finite = np.isfinite(smoothed)
    n = int(np.argmin(finite)) if not finite.all() else len(smoothed)  # up to the first nan/inf
    lrs, s = lrs[:n], smoothed[:n]
    lr_at_min = float(lrs[np.argmin(s)])
    steepest = float(lrs[np.argmin(np.gradient(s, np.log(lrs)))]) if n >= 2 else float(lrs[0])
    return max(lr_at_min / 10, float(lrs[0])), lr_at_min, steepest


def lr_range_test(
    model: Any,
    optimizer_factory: Callable[[Any, float], Any],
    train_loader: Iterable[Any],
    *,
    min_lr: float = 1e-5,
    max_lr: float = 10.0,
    num_steps: int = 100,
    smoothing: float = 0.05,
    diverge_factor: float = 4.0,
    loss_fn: Callable[..., Any] | None = None,
    device: Any = None,
    seed: int = 0,
) -> LRRangeResult:
    r"""Smith's learning-rate range test: train briefly while the rate grows, and watch the loss.

    On a deep copy of ``model`` (the caller's model is not touched), take ``num_steps``
    mini-batch steps with the optimizer ``optimizer_factory(params, lr)``, the rate growing
    geometrically from ``min_lr`` to ``max_lr``, and record the loss at each rate. Too small a
    rate barely moves the loss; a good one makes it fall fast; too large a one makes it blow
    up. The test stops early when it has blown up.

    Symbols: rates :math:`\eta_i`, :math:`i = 0..n-1` (``num_steps`` :math:`n`),
    mini-batch losses :math:`\ell_i`, smoothing weight :math:`w` (``smoothing``), divergence
    factor :math:`c` (``diverge_factor``).

    .. math::

        \eta_i &= \eta_{\min}\,(\eta_{\max}/\eta_{\min})^{i/(n-1)}
            &&\text{(}\texttt{exponential\_decay} \text{ with } \gamma > 1\text{)}\\
        a_i &= (1 - w)\,a_{i-1} + w\,\ell_i, \quad a_{-1} = 0\\
        \bar\ell_i &= a_i \,/\, \bigl(1 - (1 - w)^{i+1}\bigr)
            &&\text{(bias-corrected, as Adam's } \hat m\text{)}\\
        \text{stop if } & \bar\ell_i > c \min_{j<i} \bar\ell_j
            \text{ or } \bar\ell_i \text{ is not finite}

    The suggestion, ``suggested_lr``, is the rate at the minimum of :math:`\bar\ell`
    divided by 10 (and at least :math:`\eta_{\min}`). At the minimum the rate is already at
    the edge of instability, where steps start to overshoot; an order of magnitude below it
    the loss still falls fast and training is stable. We prefer it to the steepest descent
    of the curve (also returned, ``steepest_lr``) because the minimum of a smoothed curve is
    a stable feature, while its steepest slope is a derivative of noisy data and can land on
    a chance dip. If the loss never turned up (``lr_at_min`` is the last rate), ``max_lr``
    was too small to find the edge: widen the range.

    Args:
        optimizer_factory: ``(params, lr) -> optimizer``, e.g.
            ``lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9)``; every parameter
            group's rate is then set to :math:`\eta_i` before step :math:`i`.
        train_loader: yields ``(X, y)``; started again when ``num_steps`` exceeds an epoch.
        loss_fn: ``loss_fn(output, y)``; default: cross-entropy.
        device: where to compute; the copy is moved there.
        seed: seeds torch's random generator during the test (dropout, and shuffling by a
            loader that has no generator of its own). Torch's CPU random state and the
            loader's own generator are restored afterwards, so running the test does not
            change what training does next.

    Conventions: as in fastai's ``lr_find``, ``losses[i]`` is the loss of batch :math:`i`
    computed just before the update with rate :math:`\eta_i`, so it reflects the updates
    made with the smaller rates :math:`\eta_0..\eta_{i-1}`; the step that triggered the stop
    is recorded. fastai's smoothing :math:`\beta = 0.98` is :math:`w = 1 - \beta = 0.02`;
    our default 0.05 suits the 100 steps a small model needs.

    Example:
        >>> import torch
        >>> from dlopt_lab.data import digits_loaders
        >>> _ = torch.manual_seed(0)
        >>> res = lr_range_test(torch.nn.Linear(64, 10), lambda p, lr: torch.optim.SGD(p, lr=lr),
        ...                     digits_loaders()["train"], max_lr=1e3)
        >>> res.stopped_early, 0.1 < res.suggested_lr < 10
        (True, True)

    References: Smith (2017), Cyclical learning rates for training neural networks, WACV;
    fastai's ``Learner.lr_find`` (Howard & Gugger, 2020).
    """
    min_lr = check_hparam("min_lr", min_lr, low=0.0, low_open=True)
    max_lr = check_hparam("max_lr", max_lr, low=min_lr, low_open=True)
    num_steps = _check_int("num_steps", num_steps, 2)
    smoothing = check_hparam("smoothing", smoothing, low=0.0, high=1.0, low_open=True)
    diverge_factor = check_hparam("diverge_factor", diverge_factor, low=1.0, low_open=True)
    import torch

    loss_fn = torch.nn.functional.cross_entropy if loss_fn is None else loss_fn
    lrs = np.geomspace(min_lr, max_lr, num_steps)
    net = copy.deepcopy(model)
    if device is not None:
        net.to(device)
    net.train()
    optimizer = optimizer_factory(net.parameters(), float(lrs[0]))
    gen = getattr(train_loader, "generator", None)
    gen_state = gen.get_state() if isinstance(gen, torch.Generator) else None
    losses: list[float] = []
    smoothed: list[float] = []
    avg, best, stopped = 0.0, math.inf, False
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            batches = _batches(train_loader)
            for i, lr in enumerate(lrs):
                X, y = next(batches)
                if device is not None:
                    X, y = X.to(device), y.to(device)
                for group in optimizer.param_groups:
                    group["lr"] = float(lr)
                optimizer.zero_grad()
                loss = loss_fn(net(X), y)
                losses.append(loss.item())
                avg = (1 - smoothing) * avg + smoothing * losses[-1]  # a_i
                smoothed.append(avg / (1 - (1 - smoothing) ** (i + 1)))  # bias-corrected
                if not math.isfinite(smoothed[-1]) or smoothed[-1] > diverge_factor * best:
                    stopped = i < num_steps - 1
                    break
                best = min(best, smoothed[-1])
                loss.backward()
                optimizer.step()
    finally:
        if gen_state is not None:
            gen.set_state(gen_state)
    lrs = lrs[: len(losses)]
    smoothed_arr = np.array(smoothed)
    suggested, at_min, steepest = _suggestions(lrs, smoothed_arr)
    return LRRangeResult(lrs=lrs, losses=np.array(losses), smoothed=smoothed_arr,
                         suggested_lr=suggested, lr_at_min=at_min, steepest_lr=steepest,
                         stopped_early=stopped)


# --------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(5.0, 3.2), layout="constrained")
    return ax


def plot_schedule(
    schedule: Callable[[int], float],
    num_steps: int,
    ax: Axes | None = None,
    *,
    label: str | None = None,
    logy: bool = False,
) -> Axes:
    """Draw the learning rate of steps ``0..num_steps - 1`` (any ``step -> lr`` callable).

    The default label is the schedule's ``repr``, e.g. ``cosine_annealing(lr=0.1, ...)``.
    """
    n = _check_int("num_steps", num_steps, 1)
    ax = _axes(ax)
    ax.plot(np.arange(n), [schedule(t) for t in range(n)], lw=1.6,
            label=repr(schedule) if label is None else label)
    if logy:
        ax.set_yscale("log")
    ax.set(xlabel="step", ylabel="learning rate")
    ax.legend(loc="best", fontsize="small")
    return ax


def plot_lr_range(result: LRRangeResult, ax: Axes | None = None) -> Axes:
    """Draw a range test: loss against learning rate on a log axis, raw loss faint, smoothed
    loss solid, the suggested rate marked (a dashed line and a dot on the smoothed curve).

    The y range shows the smoothed curve; the diverging tail of the raw loss may leave it.
    """
    ax = _axes(ax)
    lrs, raw, sm = result.lrs, result.losses, result.smoothed
    (line,) = ax.plot(lrs, sm, lw=1.8, label="smoothed loss")
    ax.plot(lrs, raw, lw=0.8, alpha=0.3, color=line.get_color(), label="mini-batch loss")
    y = float(np.interp(np.log(result.suggested_lr), np.log(lrs), sm))
    ax.axvline(result.suggested_lr, ls="--", lw=1.0, color="0.3")
    ax.plot([result.suggested_lr], [y], "o", color="C3", ms=6, zorder=5,
            label=f"suggested lr = {result.suggested_lr:.2g}")
    ax.set_xscale("log")
    shown = sm[: len(sm) - 1] if result.stopped_early and len(sm) > 1 else sm
    shown = shown[np.isfinite(shown)]
    if len(shown):
        lo, hi = float(shown.min()), float(shown.max())
        pad = 0.05 * (hi - lo) if hi > lo else 0.05 * abs(hi) + 1e-12
        ax.set_ylim(lo - pad, hi + pad)
    ax.set(xlabel="learning rate", ylabel="loss")
    ax.legend(loc="best", fontsize="small")
    return ax
