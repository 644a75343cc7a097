"""Hyper-parameter search: search spaces, grid search, random search and successive halving.

A search space is a dict from names to distributions::

    space = {"lr": LogUniform(1e-4, 1.0), "momentum": Uniform(0.0, 0.99),
             "width": Choice([32, 64, 128])}

and an objective is a function ``objective(params, budget) -> float`` that trains with the
hyper-parameters ``params`` (a dict) for ``budget`` units of work (epochs, steps, examples)
and returns a number to **minimize**, typically a validation loss or error rate. Every
evaluation becomes a :class:`Trial`; an exception inside the objective (or a ``nan``) is
recorded as a failed trial with value ``inf``, and the search goes on. A search returns a
:class:`SearchResult`. All searches are seeded: the same seed proposes the same
configurations.

Nothing here imports torch: the objective decides what to train.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from dlopt_lab.optim.functional import check_hparam

__all__ = [
    "Choice",
    "IntUniform",
    "LogUniform",
    "SearchResult",
    "Trial",
    "Uniform",
    "grid_search",
    "random_search",
    "successive_halving",
]

Objective = Callable[[dict[str, Any], float], float]


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"Invalid {name}: {value!r} (must be an integer >= {low})")
    return int(value)


# --------------------------------------------------------------------------------------------
# Search spaces
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Uniform:
    """A real number, uniform on ``[low, high]``: for parameters whose *size* matters."""

    low: float
    high: float

    def __post_init__(self) -> None:
        low = check_hparam("low", self.low)
        check_hparam("high", self.high, low=low, low_open=True)

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))

    def grid(self, n: int) -> list[float]:
        """``n`` evenly spaced values, both ends included."""
        return np.linspace(self.low, self.high, _check_int("n", n, 2)).tolist()


@dataclass(frozen=True)
class LogUniform:
    r"""A positive real number whose logarithm is uniform: for parameters whose *order of
    magnitude* matters (learning rate, weight decay).

    .. math::

        \log x \sim U(\log \text{low}, \log \text{high})

    so each decade between ``low`` and ``high`` is equally likely: ``LogUniform(1e-4, 1)``
    puts a quarter of its samples in ``[1e-4, 1e-3]``, where ``Uniform(1e-4, 1)`` puts 0.09%.
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        low = check_hparam("low", self.low, low=0.0, low_open=True)
        check_hparam("high", self.high, low=low, low_open=True)

    def sample(self, rng: np.random.Generator) -> float:
        x = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return min(max(x, self.low), self.high)  # exp(log(x)) can miss x by a rounding error

    def grid(self, n: int) -> list[float]:
        """``n`` values evenly spaced in log-space (a geometric sequence), both ends included."""
        return np.geomspace(self.low, self.high, _check_int("n", n, 2)).tolist()


@dataclass(frozen=True)
class IntUniform:
    """An integer, uniform on ``low, low + 1, ..., high`` (both included)."""

    low: int
    high: int

    def __post_init__(self) -> None:
        if isinstance(self.low, bool) or not isinstance(self.low, (int, np.integer)):
            raise ValueError(f"Invalid low: {self.low!r} (must be an integer)")
        _check_int("high", self.high, self.low + 1)

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high + 1))

    def grid(self, n: int) -> list[int]:
        """Up to ``n`` evenly spaced integers, both ends included (fewer if the range is short)."""
        points = np.round(np.linspace(self.low, self.high, _check_int("n", n, 2)))
        return sorted({int(p) for p in points})


@dataclass(frozen=True)
class Choice:
    """One of a few values (numbers, strings, anything), each equally likely."""

    values: tuple[Any, ...]

    def __post_init__(self) -> None:
        if isinstance(self.values, (str, bytes)) or not isinstance(self.values, Sequence):
            raise ValueError(f"Invalid values: {self.values!r} (must be a list of choices)")
        if len(self.values) == 0:
            raise ValueError("Invalid values: [] (must hold at least one choice)")
        object.__setattr__(self, "values", tuple(self.values))

    def sample(self, rng: np.random.Generator) -> Any:
        return self.values[int(rng.integers(len(self.values)))]

    def grid(self, n: int | None = None) -> list[Any]:
        """All the values (``n`` is ignored: a grid over a choice tries every choice)."""
        return list(self.values)


Distribution = Uniform | LogUniform | IntUniform | Choice


def _check_space(space: Any) -> dict[str, Distribution]:
    if not isinstance(space, Mapping) or not space:
        raise ValueError(f"Invalid space: {space!r} (must be a non-empty dict of distributions)")
    for name, dist in space.items():
        if not isinstance(dist, (Uniform, LogUniform, IntUniform, Choice)):
            raise ValueError(
                f"Invalid space[{name!r}]: {dist!r} (must be Uniform, LogUniform, IntUniform "
                "or Choice)"
            )
    return dict(space)


def _sample(space: dict[str, Distribution], rng: np.random.Generator) -> dict[str, Any]:
    return {name: dist.sample(rng) for name, dist in space.items()}


# --------------------------------------------------------------------------------------------
# Trials and results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    """One evaluation of the objective.

    ``number`` counts the evaluations of a search from 0; ``config`` numbers the
    configurations (successive halving evaluates one configuration at several budgets, so
    several trials share a ``config``). ``value`` is what the objective returned (lower is
    better; ``inf`` when it failed), ``time`` its wall-clock seconds. ``status`` is ``"ok"``,
    ``"failed"`` (``error`` says why) or ``"pruned"`` (evaluated, then not promoted to a
    larger budget by successive halving).
    """

    number: int
    config: int
    params: dict[str, Any]
    value: float
    budget: float
    time: float
    status: str = "ok"
    error: str | None = None


def _evaluate(objective: Objective, params: dict[str, Any], budget: float, number: int,
              config: int) -> Trial:
    """Call the objective once and record what happened, failure included."""
    start = time.perf_counter()
    try:
        value, status, error = float(objective(dict(params), budget)), "ok", None
    except Exception as exc:  # a failed trial is recorded, and the search goes on
        value, status, error = math.inf, "failed", f"{type(exc).__name__}: {exc}"
    if math.isnan(value):
        value, status, error = math.inf, "failed", "the objective returned nan"
    return Trial(number, config, dict(params), value, budget, time.perf_counter() - start,
                 status, error)


@dataclass
class SearchResult:
    """The trials of a search, in the order they were evaluated."""

    trials: list[Trial] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.trials)

    @property
    def best(self) -> Trial:
        """The lowest value among the trials that did not fail, at the largest budget any of
        them reached (for grid and random search: all of them). Values measured at a small
        budget are not compared with values at a large one."""
        done = [t for t in self.trials if t.status != "failed"]
        if not done:
            raise ValueError("no trial succeeded: there is no best one")
        top = max(t.budget for t in done)
        return min((t for t in done if t.budget == top), key=lambda t: t.value)

    def to_table(self) -> list[dict[str, Any]]:
        """One plain dict per trial (number, config, the params, value, budget, time, status),
        ready for printing or for ``pandas.DataFrame``."""
        return [{"number": t.number, "config": t.config, **t.params, "value": t.value,
                 "budget": t.budget, "time": t.time, "status": t.status} for t in self.trials]

    def best_so_far(self, by: str = "trials") -> tuple[np.ndarray, np.ndarray]:
        """The lowest value seen so far, against the number of trials or the budget spent.

        Returns ``(x, y)``: ``x`` is 1, 2, ..., n (``by="trials"``) or the cumulative budget
        (``by="budget"``); ``y[k]`` is the smallest value among the first ``k + 1`` trials
        (``inf`` until one succeeds), whatever budget it was measured at.
        """
        if by not in ("trials", "budget"):
            raise ValueError(f"Invalid by: {by!r} (must be 'trials' or 'budget')")
        values = np.array([t.value for t in self.trials], dtype=float)
        if by == "trials":
            x = np.arange(1, len(values) + 1, dtype=float)
        else:
            x = np.cumsum([t.budget for t in self.trials], dtype=float)
        return x, np.minimum.accumulate(values) if len(values) else values


# --------------------------------------------------------------------------------------------
# Searches
# --------------------------------------------------------------------------------------------


def grid_search(
    objective: Objective,
    space: Mapping[str, Distribution],
    points_per_dim: int = 5,
    *,
    budget: float = 1.0,
) -> SearchResult:
    r"""Evaluate every combination of ``points_per_dim`` values per dimension.

    With :math:`d` dimensions and :math:`k` points each, that is :math:`k^d` trials (a
    :class:`Choice` contributes all its values), but only :math:`k` distinct values of any one
    parameter: if only one parameter matters, :math:`k^d` trials buy the information of
    :math:`k`. Each trial calls ``objective(params, budget)``.

    Example:
        >>> result = grid_search(lambda p, b: (p["x"] - 0.3) ** 2, {"x": Uniform(0, 1)}, 11)
        >>> len(result), result.best.params
        (11, {'x': 0.30000000000000004})
    """
    space = _check_space(space)
    points_per_dim = _check_int("points_per_dim", points_per_dim, 2)
    budget = check_hparam("budget", budget, low=0.0, low_open=True)
    names = list(space)
    axes = [space[name].grid(points_per_dim) for name in names]
    trials = [_evaluate(objective, dict(zip(names, point, strict=False)), budget, i, i)
              for i, point in enumerate(itertools.product(*axes))]
    return SearchResult(trials)


def random_search(
    objective: Objective,
    space: Mapping[str, Distribution],
    n_trials: int,
    *,
    seed: int = 0,
    budget: float = 1.0,
) -> SearchResult:
    r"""Evaluate ``n_trials`` configurations drawn independently from ``space``.

    Every trial tries a new value of *every* parameter, so when only a few parameters
    matter (low effective dimension), random search explores them with all :math:`n` trials
    where a grid would spend :math:`n` trials on :math:`n^{1/d}` values each. The
    configurations depend only on ``seed``, not on the objective.

    Example:
        >>> result = random_search(lambda p, b: (p["lr"] - 0.01) ** 2,
        ...                        {"lr": LogUniform(1e-4, 1.0)}, n_trials=20, seed=0)
        >>> len(result), 0.005 < result.best.params["lr"] < 0.02
        (20, True)

    References: Bergstra & Bengio, "Random search for hyper-parameter optimization" (JMLR
    2012).
    """
    space = _check_space(space)
    n_trials = _check_int("n_trials", n_trials, 1)
    budget = check_hparam("budget", budget, low=0.0, low_open=True)
    rng = np.random.default_rng(seed)
    trials = [_evaluate(objective, _sample(space, rng), budget, i, i) for i in range(n_trials)]
    return SearchResult(trials)


def _rung_budgets(min_budget: Any, max_budget: Any, eta: Any) -> list[Any]:
    """r, r eta, r eta^2, ... up to max_budget; integers stay integers (epochs)."""
    r = check_hparam("min_budget", min_budget, low=0.0, low_open=True)
    R = check_hparam("max_budget", max_budget, low=r)
    e = check_hparam("eta", eta, low=1.0, low_open=True)
    K = math.floor(math.log(R / r) / math.log(e) + 1e-9)  # log(27)/log(3) may be 2.9999...
    return [min_budget * eta**k for k in range(K + 1)]


def successive_halving(
    objective: Objective,
    space: Mapping[str, Distribution] | Sequence[dict[str, Any]],
    n_configs: int | None = None,
    *,
    min_budget: float,
    max_budget: float,
    eta: float = 3,
    seed: int = 0,
) -> SearchResult:
    r"""Try many configurations on a small budget; give the best ones a larger budget; repeat.

    Symbols: :math:`n` configurations, budgets :math:`r` = ``min_budget`` and :math:`R` =
    ``max_budget``, reduction factor :math:`\eta` = ``eta``.

    .. math::

        K &= \lfloor \log_\eta (R / r) \rfloor, \qquad
        b_k = r\,\eta^k \quad (k = 0, \dots, K)\\
        n_0 &= n, \qquad n_{k+1} = \max\big(1, \lfloor n_k / \eta \rfloor\big)\\
        \text{total budget} &= \textstyle\sum_{k=0}^{K} n_k\, b_k
            \;=\; n\, r\, (K + 1) \quad\text{when } n = \eta^K

    Rung :math:`k` evaluates its :math:`n_k` configurations with budget :math:`b_k`; the
    :math:`n_{k+1}` with the lowest values go on to rung :math:`k + 1`, the others are marked
    ``"pruned"``. The top budget is :math:`r\eta^K`, which is :math:`R` when :math:`R / r` is
    a power of :math:`\eta` (otherwise the largest such budget below :math:`R`).

    Args:
        space: a search space (then ``n_configs`` configurations are drawn from it with
            ``seed``) or a list of configurations (dicts), each tried as given.
        n_configs: how many configurations to draw; with a list, ``None`` or its length.

    Conventions: each call ``objective(params, budget)`` is independent, so a configuration
    promoted to budget 9 is trained from scratch for 9 units (an objective may cache and
    resume instead). Failed trials are never promoted. Ties go to the configuration drawn
    first.

    Example:
        >>> result = successive_halving(lambda p, b: p["x"] + 1 / b, {"x": Uniform(0, 1)},
        ...                             27, min_budget=1, max_budget=27, eta=3)
        >>> [sum(t.budget == b for t in result.trials) for b in (1, 3, 9, 27)]
        [27, 9, 3, 1]

    References: Jamieson & Talwalkar, "Non-stochastic best arm identification and
    hyperparameter optimization" (AISTATS 2016); Li et al., "Hyperband" (JMLR 2018), whose
    inner loop this is.
    """
    budgets = _rung_budgets(min_budget, max_budget, eta)
    if isinstance(space, Mapping):
        space = _check_space(space)
        n_configs = _check_int("n_configs", n_configs, 1)
        rng = np.random.default_rng(seed)
        configs = [_sample(space, rng) for _ in range(n_configs)]
    else:
        configs = [dict(c) for c in space]
        if not configs or (n_configs is not None and n_configs != len(configs)):
            raise ValueError(f"Invalid n_configs: {n_configs!r} (the list holds {len(configs)} "
                             "configurations; it must not be empty)")
    alive = list(range(len(configs)))  # the configurations still in the race
    trials: list[Trial] = []
    for k, budget in enumerate(budgets):
        rung = [_evaluate(objective, configs[c], budget, len(trials) + j, c)
                for j, c in enumerate(alive)]
        last = k == len(budgets) - 1
        ranked = sorted((t for t in rung if t.status == "ok"), key=lambda t: t.value)
        n_next = max(1, int(len(alive) // eta))  # n_{k+1} = max(1, floor(n_k / eta))
        promoted = set() if last else {t.config for t in ranked[:n_next]}
        trials += [t if last or t.status == "failed" or t.config in promoted
                   else replace(t, status="pruned") for t in rung]
        alive = sorted(promoted)
        if not alive:
            break
    return SearchResult(trials)
