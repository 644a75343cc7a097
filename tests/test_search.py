"""Hyper-parameter search: the distributions (a KS test in log-space), grids, random versus
grid search on a problem with one important dimension, and successive halving's rungs,
budgets, promotions and failures against their closed forms."""

import doctest
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

import dlopt_lab.search as search
from dlopt_lab.search import (
    Choice,
    IntUniform,
    LogUniform,
    SearchResult,
    Trial,
    Uniform,
    grid_search,
    random_search,
    successive_halving,
)

# --------------------------------------------------------------------------------------------
# Distributions
# --------------------------------------------------------------------------------------------


def test_samples_lie_in_range():
    rng = np.random.default_rng(0)
    for dist in (Uniform(-2.0, 3.0), LogUniform(1e-5, 10.0), LogUniform(0.1, 0.2)):
        xs = np.array([dist.sample(rng) for _ in range(2000)])
        assert xs.min() >= dist.low and xs.max() <= dist.high
        assert all(isinstance(x, float) for x in xs.tolist())
    ints = [IntUniform(2, 5).sample(rng) for _ in range(400)]
    assert set(ints) == {2, 3, 4, 5} and all(type(i) is int for i in ints)
    picks = [Choice(["sgd", "adam", 0.5]).sample(rng) for _ in range(300)]
    assert set(picks) == {"sgd", "adam", 0.5}


def test_log_uniform_is_uniform_in_log_space():
    rng = np.random.default_rng(1)
    low, high, n = 1e-4, 1.0, 4000
    logs = np.log([LogUniform(low, high).sample(rng) for _ in range(n)])
    # Kolmogorov-Smirnov against U(log low, log high): at 4,000 samples a true uniform gives
    # p > 0.001 with probability 0.999
    assert stats.kstest(logs, stats.uniform(math.log(low), math.log(high / low)).cdf).pvalue > 1e-3
    # the same test tells the plain uniform apart (it is not log-uniform)
    plain = np.log([Uniform(low, high).sample(rng) for _ in range(n)])
    assert stats.kstest(plain, stats.uniform(math.log(low), math.log(high / low)).cdf).pvalue < 1e-6
    # each decade holds about a quarter of the samples: binomial standard error 0.007
    decades = np.histogram(logs / math.log(10), bins=[-4, -3, -2, -1, 0])[0] / n
    assert np.all(np.abs(decades - 0.25) < 5 * math.sqrt(0.25 * 0.75 / n))


def test_grids_cover_the_endpoints():
    assert Uniform(-1.0, 2.0).grid(4) == [-1.0, 0.0, 1.0, 2.0]
    g = LogUniform(1e-4, 1e-1).grid(4)
    assert g[0] == 1e-4 and g[-1] == 1e-1
    np.testing.assert_allclose(g, [1e-4, 1e-3, 1e-2, 1e-1], rtol=1e-12)
    assert IntUniform(1, 10).grid(3) == [1, 6, 10]  # round(5.5) = 6
    assert IntUniform(1, 3).grid(10) == [1, 2, 3]  # fewer when the range is short
    assert Choice([8, 16, 32]).grid(2) == [8, 16, 32]  # a choice is tried in full


def test_distribution_errors():
    with pytest.raises(ValueError, match=r"^Invalid high: 1 \(must be > 1\)"):
        Uniform(1.0, 1.0)
    with pytest.raises(ValueError, match=r"^Invalid low: 0 \(must be > 0\)"):
        LogUniform(0.0, 1.0)
    with pytest.raises(ValueError, match=r"^Invalid low: 0.5 \(must be an integer\)"):
        IntUniform(0.5, 3)
    with pytest.raises(ValueError, match=r"^Invalid high: 3 \(must be an integer >= 4\)"):
        IntUniform(3, 3)
    with pytest.raises(ValueError, match=r"^Invalid values: \[\]"):
        Choice([])
    with pytest.raises(ValueError, match=r"^Invalid values: 'abc'"):
        Choice("abc")
    with pytest.raises(ValueError, match=r"^Invalid n: 1 \(must be an integer >= 2\)"):
        Uniform(0, 1).grid(1)


# --------------------------------------------------------------------------------------------
# Grid and random search
# --------------------------------------------------------------------------------------------

SPACE = {"important": Uniform(0.0, 1.0), "unimportant": Uniform(0.0, 1.0)}


def _bergstra_objective(target):
    """One dimension decides the value; the other barely matters (low effective dimension)."""
    return lambda p, budget: (p["important"] - target) ** 2 + 1e-6 * p["unimportant"]


def test_grid_search_tries_every_combination_in_order():
    calls = []
    result = grid_search(lambda p, b: calls.append((p, b)) or 0.0,
                         {"a": Uniform(0, 1), "c": Choice(["x", "y"])}, 3, budget=2.0)
    assert len(result) == 6 == len(calls)
    assert [t.params for t in result.trials] == [
        {"a": 0.0, "c": "x"}, {"a": 0.0, "c": "y"}, {"a": 0.5, "c": "x"},
        {"a": 0.5, "c": "y"}, {"a": 1.0, "c": "x"}, {"a": 1.0, "c": "y"}]
    assert all(b == 2.0 for _, b in calls)
    assert [t.number for t in result.trials] == list(range(6))


def test_random_search_tries_n_distinct_values_where_a_grid_tries_sqrt_n():
    n = 16
    grid = grid_search(_bergstra_objective(0.5), SPACE, 4)
    rand = random_search(_bergstra_objective(0.5), SPACE, n, seed=0)
    assert len(grid) == len(rand) == n
    assert len({t.params["important"] for t in grid.trials}) == 4  # sqrt(16)
    assert len({t.params["important"] for t in rand.trials}) == 16


def test_random_search_beats_the_grid_when_one_dimension_matters():
    # over 30 targets, the best |important - target| found with 16 trials: the grid's 4 values
    # are 1/3 apart (mean error about 1/12), random's 16 values about 1/17 apart (1/34)
    targets = np.random.default_rng(0).uniform(0, 1, size=30)
    grid_err, rand_err = [], []
    for seed, target in enumerate(targets):
        g = grid_search(_bergstra_objective(target), SPACE, 4).best
        r = random_search(_bergstra_objective(target), SPACE, 16, seed=seed).best
        grid_err.append(abs(g.params["important"] - target))
        rand_err.append(abs(r.params["important"] - target))
    assert np.mean(rand_err) < 0.6 * np.mean(grid_err)


def test_random_search_is_seeded_and_independent_of_the_objective():
    a = random_search(lambda p, b: 0.0, SPACE, 10, seed=3)
    b = random_search(lambda p, b: p["important"], SPACE, 10, seed=3)
    c = random_search(lambda p, b: 0.0, SPACE, 10, seed=4)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert [t.params for t in a.trials] != [t.params for t in c.trials]


def _flaky(p, budget):
    if p["important"] > 0.7:
        raise RuntimeError("diverged")
    if p["important"] < 0.1:
        return float("nan")
    return p["important"]


def test_failures_are_recorded_and_the_search_goes_on():
    result = random_search(_flaky, SPACE, 40, seed=0)
    assert len(result) == 40
    failed = [t for t in result.trials if t.status == "failed"]
    assert failed and all(t.value == math.inf for t in failed)
    assert {t.error for t in failed} == {"RuntimeError: diverged", "the objective returned nan"}
    assert all(0.1 <= t.params["important"] <= 0.7 for t in result.trials if t.status == "ok")
    assert result.best.value == min(t.value for t in result.trials if t.status == "ok")
    with pytest.raises(ValueError, match="no trial succeeded"):
        SearchResult([failed[0]]).best


def test_result_table_and_best_so_far_curves():
    values = [5.0, math.inf, 3.0, 4.0, 1.0]
    trials = [Trial(i, i, {"x": float(i)}, v, budget=float(i + 1), time=0.0,
                    status="failed" if v == math.inf else "ok") for i, v in enumerate(values)]
    result = SearchResult(trials)
    assert result.best.number == 4
    rows = result.to_table()
    assert rows[1] == {"number": 1, "config": 1, "x": 1.0, "value": math.inf, "budget": 2.0,
                       "time": 0.0, "status": "failed"}
    x, y = result.best_so_far()
    assert x.tolist() == [1, 2, 3, 4, 5] and y.tolist() == [5, 5, 3, 3, 1]
    x, y = result.best_so_far(by="budget")
    assert x.tolist() == [1, 3, 6, 10, 15] and y.tolist() == [5, 5, 3, 3, 1]
    with pytest.raises(ValueError, match=r"^Invalid by: 'time'"):
        result.best_so_far(by="time")
    assert SearchResult().best_so_far()[1].size == 0


def test_search_errors():
    f = _bergstra_objective(0.5)
    with pytest.raises(ValueError, match=r"^Invalid n_trials: 0 \(must be an integer >= 1\)"):
        random_search(f, SPACE, 0)
    with pytest.raises(ValueError, match=r"^Invalid points_per_dim: 1"):
        grid_search(f, SPACE, 1)
    with pytest.raises(ValueError, match=r"^Invalid space: \{\}"):
        random_search(f, {}, 3)
    with pytest.raises(ValueError, match=r"^Invalid space\['lr'\]: 0.1"):
        grid_search(f, {"lr": 0.1}, 3)
    with pytest.raises(ValueError, match=r"^Invalid budget: 0 \(must be > 0\)"):
        random_search(f, SPACE, 3, budget=0)


# --------------------------------------------------------------------------------------------
# Successive halving
# --------------------------------------------------------------------------------------------


def _rungs(result):
    budgets = sorted({t.budget for t in result.trials})
    return budgets, [[t for t in result.trials if t.budget == b] for b in budgets]


@pytest.mark.parametrize("n, r, R, eta, counts", [
    (27, 1, 27, 3, [27, 9, 3, 1]),
    (81, 1, 81, 3, [81, 27, 9, 3, 1]),
    (16, 2, 16, 2, [16, 8, 4, 2]),
    (10, 1, 30, 3, [10, 3, 1, 1]),  # top rung 9 < 30 = R: the largest r eta^k below it
    (5, 1, 1, 3, [5]),
])
def test_rung_sizes_and_budgets(n, r, R, eta, counts):
    result = successive_halving(lambda p, b: p["x"], {"x": Uniform(0, 1)}, n,
                                min_budget=r, max_budget=R, eta=eta, seed=0)
    budgets, rungs = _rungs(result)
    assert budgets == [r * eta**k for k in range(len(counts))]
    assert [len(rung) for rung in rungs] == counts
    assert [t.number for t in result.trials] == list(range(sum(counts)))
    total = sum(t.budget for t in result.trials)
    assert total == sum(c * b for c, b in zip(counts, budgets))
    if n == eta ** (len(counts) - 1):
        assert total == n * r * len(counts)  # n r (K + 1)


def test_promotion_keeps_the_best_and_marks_the_rest_pruned():
    result = successive_halving(lambda p, b: p["x"] + 0.1 * math.sin(7 * p["x"] * b),
                                {"x": Uniform(0, 1)}, 27, min_budget=1, max_budget=27)
    _, rungs = _rungs(result)
    for rung, following in zip(rungs, rungs[1:]):
        promoted = {t.config for t in following}
        assert {t.config for t in rung if t.status == "ok"} == promoted
        assert max(t.value for t in rung if t.config in promoted) <= min(
            t.value for t in rung if t.config not in promoted)
        assert all(t.status == "pruned" for t in rung if t.config not in promoted)
    assert [t.status for t in rungs[-1]] == ["ok"]
    assert sum(t.status == "pruned" for t in result.trials) == 26
    assert result.best is rungs[-1][0]
    # the same configuration keeps its params from rung to rung
    first = {t.config: t.params for t in rungs[0]}
    assert all(t.params == first[t.config] for t in result.trials)


def _noisy_objective(search_seed):
    """True quality q; the budget only removes noise: |noise| <= 2.5 gap / budget."""
    gap = 1 / 27

    def objective(p, budget):
        rng = np.random.default_rng([search_seed, round(p["q"] / gap), int(budget)])
        return p["q"] + 2.5 * gap / budget * rng.uniform(-1, 1)

    return objective


def test_successive_halving_finds_the_best_configuration_despite_the_noise():
    # with |noise| <= 2.5 gap / budget only configurations within 5 gaps can overtake the best
    # one at budget 1 (it stays in the top 9), within 5/3 gaps at budget 3 (top 3), and none
    # at budget 9: successive halving must end with q = 0. Budget 1 alone does not find it.
    lucky_at_budget_1 = 0
    for seed in range(5):
        qs = np.random.default_rng(seed).permutation(27) / 27
        configs = [{"q": float(q)} for q in qs]
        result = successive_halving(_noisy_objective(seed), configs, min_budget=1,
                                    max_budget=27, eta=3)
        assert result.best.params["q"] == 0.0 and result.best.budget == 27
        rung0 = [t for t in result.trials if t.budget == 1]
        lucky_at_budget_1 += min(rung0, key=lambda t: t.value).params["q"] == 0.0
    assert lucky_at_budget_1 < 5  # the test is not trivial: the noise matters at budget 1


def test_successive_halving_skips_failed_configurations():
    def objective(p, budget):
        if p["x"] < 0.3:  # the most promising region crashes
            raise FloatingPointError("loss is nan")
        return p["x"]

    result = successive_halving(objective, {"x": Uniform(0, 1)}, 27, min_budget=1,
                                max_budget=27, seed=0)
    _, rungs = _rungs(result)
    failed = [t for t in rungs[0] if t.status == "failed"]
    assert failed and all(t.value == math.inf and "loss is nan" in t.error for t in failed)
    assert [len(rung) for rung in rungs] == [27, 9, 3, 1]  # enough survivors remain
    assert all(t.status != "failed" for rung in rungs[1:] for t in rung)
    ok0 = sorted(t.value for t in rungs[0] if t.status == "ok")
    assert sorted(t.value for t in rungs[1]) == ok0[:9]
    assert result.best.params["x"] == ok0[0]


def test_successive_halving_all_failing():
    result = successive_halving(lambda p, b: 1 / 0, {"x": Uniform(0, 1)}, 9, min_budget=1,
                                max_budget=9)
    assert len(result) == 9 and all(t.status == "failed" for t in result.trials)


def test_successive_halving_is_seeded():
    def run(seed):
        r = successive_halving(lambda p, b: p["x"], {"x": LogUniform(1e-3, 1)}, 9,
                               min_budget=1, max_budget=9, seed=seed)
        return [(t.params, t.value, t.budget, t.status) for t in r.trials]

    assert run(0) == run(0) and run(0) != run(1)


def test_successive_halving_errors():
    f, space = (lambda p, b: 0.0), {"x": Uniform(0, 1)}
    with pytest.raises(ValueError, match=r"^Invalid eta: 1 \(must be > 1\)"):
        successive_halving(f, space, 9, min_budget=1, max_budget=9, eta=1)
    with pytest.raises(ValueError, match=r"^Invalid min_budget: 0 \(must be > 0\)"):
        successive_halving(f, space, 9, min_budget=0, max_budget=9)
    with pytest.raises(ValueError, match=r"^Invalid max_budget: 2 \(must be >= 3\)"):
        successive_halving(f, space, 9, min_budget=3, max_budget=2)
    with pytest.raises(ValueError, match=r"^Invalid n_configs: None"):
        successive_halving(f, space, min_budget=1, max_budget=9)
    with pytest.raises(ValueError, match=r"^Invalid n_configs: 5 \(the list holds 2"):
        successive_halving(f, [{"x": 1}, {"x": 2}], 5, min_budget=1, max_budget=9)
    with pytest.raises(ValueError, match=r"^Invalid n_configs"):
        successive_halving(f, [], min_budget=1, max_budget=9)


# --------------------------------------------------------------------------------------------
# The module
# --------------------------------------------------------------------------------------------


def test_doctests_pass():
    result = doctest.testmod(search, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_import_does_not_load_torch():
    code = "import sys, dlopt_lab.search; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
