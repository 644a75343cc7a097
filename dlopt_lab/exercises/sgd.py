"""Exercises of the chapter "SGD and mini-batches"."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from dlopt_lab.exercises.core import Exercise, Incorrect, expect_number

__all__ = ["batch_variance", "largest_batch", "linear_scaling", "minibatches", "steps_per_epoch"]


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


# 1. The variance of a mini-batch gradient ----------------------------------------------------


def _batch_variance_reference() -> float:
    # The mean of B draws has variance tr(Sigma) / B with replacement; without replacement the
    # draws are slightly negatively correlated, which multiplies it by (N - B) / (N - 1).
    trace_sigma, N, B = 5.0, 1000, 50
    var_batch = trace_sigma / B * (N - B) / (N - 1)
    return var_batch


def _batch_variance_checker(answer: Any) -> None:
    v = expect_number("var_batch", answer)
    trace_sigma, N, B = 5.0, 1000, 50
    right = trace_sigma / B * (N - B) / (N - 1)
    if _close(v, right):
        return
    if _close(v, trace_sigma / B):
        raise Incorrect("That is the variance for batches drawn with replacement. Drawn without "
                        "replacement, the examples of a batch cannot repeat, and the variance is "
                        "a little smaller: include the finite-population correction.")
    if _close(v, trace_sigma / B * (N - B) / N):
        raise Incorrect("Close: the finite-population correction has N − 1 in its denominator, "
                        "not N (it must give exactly 0 when B = N, and 1 when B = 1).")
    if _close(v, trace_sigma / B**2) or _close(v, trace_sigma / B**2 * (N - B) / (N - 1)):
        raise Incorrect("Too small by a factor B. The mean of B terms divides each by B, so each "
                        "contributes σ²/B² to the variance; but there are B of them.")
    if _close(v, trace_sigma / math.sqrt(B)) or _close(v, math.sqrt(right)):
        raise Incorrect("That follows the law of the standard deviation (1/√B). The question "
                        "asks for the variance, the expected squared distance.")
    if _close(v, trace_sigma):
        raise Incorrect("That is the variance of a single example's gradient (B = 1).")
    raise Incorrect(f"{v:g} is not it. Start from the variance of a mean of B independent "
                    "draws, then correct for drawing without replacement.")


batch_variance = Exercise(
    "sgd-batch-variance",
    answer="var_batch",
    checker=_batch_variance_checker,
    reference=_batch_variance_reference,
    hint="A mean of B independent terms, each with variance σ², has variance σ²/B. Without "
         "replacement, multiply by the correction the chapter measured, (N − B)/(N − 1).",
)


# 2. A mini-batch sampler ----------------------------------------------------------------------


def _minibatches_reference() -> Callable[..., list[np.ndarray]]:
    def minibatches(n, batch_size, rng):
        order = rng.permutation(n)  # a fresh shuffle of 0, 1, ..., n - 1
        return [order[i:i + batch_size] for i in range(0, n, batch_size)]

    return minibatches


def _as_batches(got: Any, call: str) -> list[np.ndarray]:
    """The learner's batches as a list of 1-D integer arrays, or an Incorrect that says why not."""
    if type(got).__module__.startswith("torch") and getattr(got, "ndim", 2) == 1:
        got = [got]  # a single tensor of indices: one batch
    if isinstance(got, np.ndarray) and got.ndim == 1:
        raise Incorrect(f"{call} returned one flat array; return a list of batches, each an "
                        "array of indices.")
    try:
        batches = [np.asarray(b.detach().cpu() if hasattr(b, "detach") else b) for b in got]
    except TypeError:
        raise Incorrect(f"{call} should return a list of index arrays, got "
                        f"{type(got).__name__}") from None
    for b in batches:
        if b.ndim != 1:
            raise Incorrect(f"{call}: each batch should be a 1-D array of indices, got one of "
                            f"shape {b.shape}")
        if b.size and (b.dtype.kind not in "iuf" or not np.all(b == np.round(b))):
            raise Incorrect(f"{call}: the batches should hold whole-number indices, got "
                            f"{b[:4]}")
    return [b.astype(np.int64) for b in batches]


def _minibatches_checker(answer: Any) -> None:
    if not callable(answer):
        raise Incorrect(f"`minibatches` should be a function, got {type(answer).__name__}")
    # The first case divides evenly, so an answer shaped like an array is judged on its values.
    for n, batch_size in [(12, 4), (10, 3), (7, 7), (5, 8), (1, 1), (50, 6)]:
        call = f"minibatches({n}, {batch_size}, rng)"
        batches = _as_batches(answer(n, batch_size, np.random.default_rng(0)), call)
        sizes = [len(b) for b in batches]
        flat = np.concatenate(batches) if batches else np.zeros(0, dtype=np.int64)
        if flat.size and (flat.min() < 0 or flat.max() >= n):
            raise Incorrect(f"{call}: indices must lie in 0..{n - 1}, "
                            f"got {flat.min()}..{flat.max()}")
        counts = np.bincount(flat, minlength=n)
        if counts.max(initial=0) > 1:
            raise Incorrect(f"{call}: example {int(counts.argmax())} appears "
                            f"{int(counts.max())} times, but batches must not overlap (batches "
                            "drawn with replacement do): an epoch uses every example exactly "
                            "once. Shuffle, then cut.")
        left = n % batch_size
        if counts.min() == 0:
            if left and sizes == [batch_size] * (n // batch_size):
                raise Incorrect(f"{call}: the last {left} example{'s are' if left > 1 else ' is'} "
                                f"missing. Keep {'them' if left > 1 else 'it'} as a smaller final batch, as "
                                "DataLoader does by default.")
            missing = np.flatnonzero(counts == 0)
            raise Incorrect(f"{call}: {len(missing)} of the {n} examples are in no batch "
                            f"(e.g. {missing[:3].tolist()}); the batches must cover the epoch.")
        expected_sizes = [batch_size] * (n // batch_size) + ([left] if left else [])
        if sizes != expected_sizes:
            raise Incorrect(f"{call}: expected batches of sizes {expected_sizes}, got {sizes}. "
                            "All batches should be full except possibly the last.")

    # Now the randomness: a shuffle of the examples, drawn from the generator that is passed in.
    def epoch(seed: int) -> list[np.ndarray]:
        return _as_batches(answer(50, 10, np.random.default_rng(seed)), "minibatches(50, 10, rng)")

    first, again, other = epoch(1), epoch(1), epoch(2)
    if all(np.array_equal(np.sort(b), np.arange(b.min(), b.min() + len(b))) for b in first):
        raise Incorrect("Every batch holds consecutive examples (0..9, 10..19, ...), so every "
                        "epoch sees the same batches. Shuffle the examples before cutting.")
    if not np.array_equal(np.concatenate(first), np.concatenate(again)):
        raise Incorrect("Two generators with the same seed gave different batches: draw the "
                        "shuffle from `rng`, the generator that is passed in.")
    if np.array_equal(np.concatenate(first), np.concatenate(other)):
        raise Incorrect("Generators with different seeds gave the same batches: draw the shuffle "
                        "from `rng`.")


minibatches = Exercise(
    "sgd-minibatches",
    answer="minibatches",
    checker=_minibatches_checker,
    reference=_minibatches_reference,
    hint="Shuffle the indices 0..n−1 once with the generator (it has a method for a random "
         "permutation), then cut the shuffled order into consecutive slices of batch_size.",
)


# 3. Steps per epoch ----------------------------------------------------------------------------


def _steps_per_epoch_reference() -> int:
    # Each epoch is cut into ceil(N / B) batches, the last one smaller; each batch is one step.
    N, B, num_epochs = 50_000, 128, 10
    num_steps = num_epochs * math.ceil(N / B)
    return num_steps


def _steps_per_epoch_checker(answer: Any) -> None:
    v = expect_number("num_steps", answer)
    N, B, num_epochs = 50_000, 128, 10
    right = num_epochs * math.ceil(N / B)
    if v == right:
        return
    if _close(v, num_epochs * N / B):
        raise Incorrect("A step uses one whole batch, so the count must be a whole number: the "
                        "last, smaller batch of each epoch is a step too.")
    if v == num_epochs * (N // B):
        raise Incorrect(f"That drops the last {N % B} examples of every epoch (drop_last=True). "
                        "By default the loader keeps them as a smaller final batch.")
    if v == math.ceil(num_epochs * N / B):
        raise Incorrect("Batches do not run across epochs: each epoch starts a fresh shuffle, so "
                        "round up per epoch, not once at the end.")
    if v == math.ceil(N / B):
        raise Incorrect("That is one epoch; the run has ten.")
    raise Incorrect(f"{v:g} is not it. How many batches of {B} does one epoch of {N:,} examples "
                    "make, counting a smaller last one?")


steps_per_epoch = Exercise(
    "sgd-steps-per-epoch",
    answer="num_steps",
    checker=_steps_per_epoch_checker,
    reference=_steps_per_epoch_reference,
    hint="One epoch makes ⌈N/B⌉ batches (math.ceil), and every batch is one optimizer step.",
)


# 4. The linear scaling rule -------------------------------------------------------------------


def _linear_scaling_reference() -> float:
    # The batch grows by k = 256 / 32 = 8, so the learning rate grows by 8 as well.
    base_lr, base_batch, batch = 0.05, 32, 256
    lr_new = base_lr * batch / base_batch
    return lr_new


def _linear_scaling_checker(answer: Any) -> None:
    v = expect_number("lr_new", answer)
    base_lr, k = 0.05, 256 / 32
    if _close(v, base_lr * k):
        return
    if _close(v, base_lr):
        raise Incorrect("With the same learning rate, an epoch makes 8 times fewer steps of the "
                        "same size, so training falls behind. The rule changes the rate.")
    if _close(v, base_lr * math.sqrt(k)):
        raise Incorrect("That is the square-root rule, which keeps the variance of the step "
                        "η²σ²/B fixed. The linear rule keeps η/B fixed instead.")
    if _close(v, base_lr / k):
        raise Incorrect("The wrong way round: a larger batch gives a less noisy gradient and "
                        "allows a larger step, not a smaller one.")
    raise Incorrect(f"{v:g} is not it. By what factor k did the batch grow?")


linear_scaling = Exercise(
    "sgd-linear-scaling",
    answer="lr_new",
    checker=_linear_scaling_checker,
    reference=_linear_scaling_reference,
    hint="The batch grows by a factor k = 256/32. The linear scaling rule multiplies the "
         "learning rate by the same k.",
)


# 5. Where the rule must stop ------------------------------------------------------------------


def _largest_batch_reference() -> int:
    # The rule gives lr(B) = base_lr * B / base_batch; stability needs lr(B) < 2 / L.
    base_lr, base_batch, L = 0.05, 32, 4.0
    bound = base_batch * (2 / L) / base_lr  # the batch size at which lr(B) = 2 / L: 320
    largest_batch = 2 ** (math.ceil(math.log2(bound)) - 1)  # the largest power of two below it
    return largest_batch


def _largest_batch_checker(answer: Any) -> None:
    v = expect_number("largest_batch", answer)
    base_lr, base_batch, L = 0.05, 32, 4.0
    if v == 256:
        return
    if v == 320:
        raise Incorrect("320 gives exactly η = 2/L, where the steepest direction flips sign "
                        "forever without converging; and 320 is not a power of two.")
    if v > 256 and v == 2 ** round(math.log2(v)):
        lr = base_lr * v / base_batch
        raise Incorrect(f"At B = {v:g} the rule gives η = {lr:g}, above the bound "
                        f"2/L = {2 / L:g}: gradient descent diverges along the steepest direction.")
    if v == 128:
        raise Incorrect("128 is safe, but a larger power of two is still below the bound.")
    if v > 0 and v == 2 ** round(math.log2(v)):
        raise Incorrect(f"B = {v:g} is safe, but not the largest: keep doubling.")
    raise Incorrect(f"{v:g} is not a power of two, or not the answer. Write η(B) = 0.05 B / 32 "
                    "and compare it with 2/L.")


largest_batch = Exercise(
    "sgd-largest-batch",
    answer="largest_batch",
    checker=_largest_batch_checker,
    reference=_largest_batch_reference,
    hint="Under the linear rule η(B) = 0.05 · B/32. Gradient descent is stable for η < 2/L. "
         "Double B from 32 while the next doubling stays below the bound.",
)
