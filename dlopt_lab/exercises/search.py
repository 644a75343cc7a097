"""Exercises of the chapter "Hyper-parameter search"."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from dlopt_lab.exercises.core import Exercise, Incorrect, expect_number, expect_shape

__all__ = ["grid_values", "halving_budget", "log_uniform", "top_fraction"]


# 1. Distinct values tried by a grid ------------------------------------------------------------


def _grid_values_reference() -> int:
    # A full grid over d = 3 hyper-parameters with k values each costs k ** 3 trials, so 64
    # trials buy k = 4 values per axis; the learning rate takes only those 4 values.
    num_trials, num_params = 64, 3
    grid_lrs = round(num_trials ** (1 / num_params))
    return grid_lrs


def _grid_values_checker(answer: Any) -> None:
    v = expect_number("grid_lrs", answer)
    if v == 4:
        return
    if v == 64:
        raise Incorrect("64 is what a random search of 64 trials tries: every trial draws a new "
                        "learning rate. A grid repeats each of its values many times.")
    if v == 8:
        raise Incorrect("8 × 8 = 64 would be a grid over two hyper-parameters; this one has "
                        "three.")
    if math.isclose(v, 64 / 3, rel_tol=1e-6) or v in (21, 22):
        raise Incorrect("A grid does not split its trials between the parameters: it tries every "
                        "combination, k values of each, so k · k · k trials in all.")
    if v != int(v) or v < 1:
        raise Incorrect(f"A number of distinct values is a positive whole number; got {v:g}.")
    raise Incorrect(f"{v:g} is not it. How many trials does a grid of k values per parameter "
                    "cost with three parameters?")


grid_values = Exercise(
    "search-grid-values",
    answer="grid_lrs",
    checker=_grid_values_checker,
    reference=_grid_values_reference,
    hint="A grid with k values per parameter over d parameters has k^d trials. Solve k^3 = 64.",
)


# 2. How many random trials to land in the best 5% ---------------------------------------------


def _top_fraction_reference() -> int:
    # Each trial misses the best 5% of the space with probability 0.95, independently, so n
    # trials all miss with probability 0.95 ** n. The smallest n with 0.95 ** n <= 0.05:
    p, confidence = 0.05, 0.95
    num_trials = math.ceil(math.log(1 - confidence) / math.log(1 - p))
    return num_trials


def _top_fraction_checker(answer: Any) -> None:
    v = expect_number("num_trials", answer)
    exact = math.log(0.05) / math.log(0.95)  # 58.4
    if v == 59:
        return
    if abs(v - exact) < 0.05:
        raise Incorrect(f"{v:.4g} solves 0.95^n = 0.05 for a real n, but trials are whole "
                        "numbers: which is the first n that reaches 95%?")
    if v == 58:
        raise Incorrect("With 58 trials the chance of a hit is 1 − 0.95^58 ≈ 94.9%: just short.")
    if v == 60:
        raise Incorrect("60 trials are enough (the number quoted in the folklore), but one "
                        "fewer already is.")
    if v == 20:
        raise Incorrect("20 = 1/0.05 is the number of trials you need *on average* to see the "
                        "first hit; the question asks for a 95% chance.")
    if v != int(v) or v < 1:
        raise Incorrect(f"A number of trials is a positive whole number; got {v:g}.")
    raise Incorrect(f"{v:g} is not it. Write the probability that all n trials miss the best 5%, "
                    "and ask for it to be at most 5%.")


top_fraction = Exercise(
    "search-top-fraction",
    answer="num_trials",
    checker=_top_fraction_checker,
    reference=_top_fraction_reference,
    hint="One trial misses the best 5% with probability 0.95; n independent trials all miss "
         "with probability 0.95^n. Take logarithms, then round in the right direction.",
)


# 3. The total budget of successive halving ----------------------------------------------------


def _halving_budget_reference() -> int:
    # Rungs k = 0..K with K = log_eta(R / r): n_k = n / eta**k configurations, each trained
    # from scratch for b_k = r * eta**k epochs. Every rung costs n * r epochs.
    n, eta, r, R = 81, 3, 1, 81
    K = round(math.log(R / r, eta))
    total_epochs = sum((n // eta**k) * (r * eta**k) for k in range(K + 1))
    return total_epochs


def _halving_budget_checker(answer: Any) -> None:
    v = expect_number("total_epochs", answer)
    if v == 405:
        return
    if v == 81 * 81:
        raise Incorrect("81 × 81 epochs is what training every configuration fully would cost: "
                        "successive halving trains most of them for one epoch only.")
    if v == 81 + 27 + 9 + 3 + 1:
        raise Incorrect("That counts the evaluations (configurations per rung), not epochs: rung "
                        "k trains each of its configurations for r·η^k epochs.")
    if v in (324, 4 * 81, 486):
        raise Incorrect("Count the rungs again: the budgets are 1, 3, 9, 27 and 81 epochs.")
    if v == 81:
        raise Incorrect("81 epochs is the cost of one rung; there are several.")
    if v != int(v) or v < 1:
        raise Incorrect(f"A number of epochs is a positive whole number here; got {v:g}.")
    raise Incorrect(f"{v:g} is not it. Write each rung's number of configurations and its budget "
                    "per configuration, and add up their products.")


halving_budget = Exercise(
    "search-halving-budget",
    answer="total_epochs",
    checker=_halving_budget_checker,
    reference=_halving_budget_reference,
    hint="List the rungs: budgets 1, 3, 9, ... up to 81 epochs, with 81, 27, 9, ... "
         "configurations. Each configuration is trained from scratch at each rung it reaches.",
)


# 4. Sampling log-uniformly --------------------------------------------------------------------


def _log_uniform_reference() -> Callable[..., np.ndarray]:
    def sample_log_uniform(low, high, size, rng):
        # log10 x is uniform between log10(low) and log10(high)
        return 10 ** rng.uniform(np.log10(low), np.log10(high), size)

    return sample_log_uniform


_KS_LIMIT = 0.02  # the 99.9% critical value of the KS statistic for 20,000 samples is ~0.014


def _log_uniform_checker(answer: Any) -> None:
    if not callable(answer):
        raise Incorrect(f"`sample_log_uniform` should be a function, got {type(answer).__name__}")
    size = 20_000
    for low, high in [(1e-4, 1e-1), (2.0, 50.0)]:
        name = f"sample_log_uniform({low:g}, {high:g}, {size}, rng)"
        x = expect_shape(name, answer(low, high, size, np.random.default_rng(0)), (size,))
        if not np.all(np.isfinite(x)):
            raise Incorrect(f"{name} returned NaN or infinity")
        if x.min() < low or x.max() > high:
            worst = x.min() if x.min() < low else x.max()
            raise Incorrect(f"{name} returned values outside [{low:g}, {high:g}], for example "
                            f"{worst:.6g}. If you took logarithms in one base, raise that same "
                            "base to the power.")
        u = np.sort(np.log(x / low) / np.log(high / low))  # uniform on [0, 1] if log-uniform
        if np.mean(u < 1 / 3) < 0.1:
            raise Incorrect(f"{name}: only {np.mean(u < 1 / 3):.1%} of the samples lie in the "
                            "lowest third of the range on a log scale, where a log-uniform "
                            "sampler puts a third. Is it sampling uniformly?")
        cdf = np.arange(1, size + 1) / size
        ks = max(np.max(cdf - u), np.max(u - (cdf - 1 / size)))
        if ks > _KS_LIMIT:
            raise Incorrect(f"{name}: the logarithms of the samples are not uniform (the largest "
                            f"gap between their distribution and a uniform one is {ks:.3f}).")
    def draw(seed: int) -> np.ndarray:
        return np.asarray(answer(1e-4, 1e-1, 100, np.random.default_rng(seed)), dtype=float)

    if not np.array_equal(draw(1), draw(1)):
        raise Incorrect("Two calls with equally seeded generators gave different samples: draw "
                        "from the `rng` argument, not from another source of randomness.")
    if np.array_equal(draw(1), draw(2)):
        raise Incorrect("Two calls with differently seeded generators gave the same samples: "
                        "the samples should be random, drawn from `rng`.")


log_uniform = Exercise(
    "search-log-uniform",
    answer="sample_log_uniform",
    checker=_log_uniform_checker,
    reference=_log_uniform_reference,
    hint="Draw the logarithm uniformly between log10(low) and log10(high), with the `rng` you "
         "are given, then undo the logarithm.",
)
