"""Exercises of the chapter "Learning-rate schedules"."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch  # imported here, not inside a check's time limit

from dlopt_lab.exercises.core import Exercise, Incorrect, expect_number

__all__ = ["cosine", "halving", "handover", "step_decay"]


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)


# 1. The rate at step k of a step decay --------------------------------------------------------


def _step_decay_reference() -> float:
    # StepLR multiplies by gamma each time its counter reaches a multiple of step_size:
    # the rate of step t is lr * gamma ** floor(t / step_size).
    lr, step_size, gamma, step = 0.1, 30, 0.1, 60
    lr_60 = lr * gamma ** (step // step_size)
    return lr_60


def _step_decay_checker(answer: Any) -> None:
    v = expect_number("lr_60", answer)
    if _close(v, 0.1 * 0.1**2):
        return
    if _close(v, 0.1 * 0.1):
        raise Incorrect("That is the rate of steps 30 to 59. Step 60 is the step after 60 "
                        "updates, and at 60 = 2 × 30 the second decay has already happened.")
    if _close(v, 0.1 * 0.1**3):
        raise Incorrect("One decay too many: after 60 updates the counter has passed 30 and 60, "
                        "not a third multiple of 30.")
    if _close(v, 0.1):
        raise Incorrect("That is the starting rate; StepLR has decayed it by then.")
    raise Incorrect(f"{v:g} is not it. Step decay keeps the rate for `step_size` steps, then "
                    "multiplies it by `gamma`: how many times has that happened at step 60?")


step_decay = Exercise(
    "sched-step-decay",
    answer="lr_60",
    checker=_step_decay_checker,
    reference=_step_decay_reference,
    hint="The rate of step t is lr · γ^⌊t/s⌋; step t is the one after t updates.",
)


# 2. How long exponential decay takes to halve the rate ----------------------------------------


def _halving_reference() -> int:
    # lr * gamma ** k <= lr / 2  <=>  k >= ln 2 / ln(1 / gamma); the smallest integer k.
    gamma = 0.99
    steps_to_half = math.ceil(math.log(2) / math.log(1 / gamma))
    return steps_to_half


def _halving_checker(answer: Any) -> None:
    v = expect_number("steps_to_half", answer)
    exact = math.log(2) / math.log(1 / 0.99)  # 68.97
    if v == 69:
        return
    if math.isclose(v, exact, rel_tol=1e-3):
        raise Incorrect(f"{v:.4g} solves 0.99^k = 1/2 for a real k, but steps are whole "
                        "numbers: which is the first step at which the rate is at most half?")
    if math.isclose(v, math.log(2) / 0.01, rel_tol=1e-3):
        raise Incorrect("ln 2 / 0.01 uses ln(1 − x) ≈ −x; close, but compute ln(0.99) exactly.")
    if v == 68:
        raise Incorrect("At step 68 the rate is 0.99^68 ≈ 0.505 times the start: still above "
                        "half.")
    if v == 70:
        raise Incorrect("At step 70 the rate is below half, but an earlier step already is.")
    if v == 50:
        raise Incorrect("That would be a linear decay by 1% of the start per step; "
                        "exponential decay multiplies by 0.99 each step.")
    if v != int(v) or v < 0:
        raise Incorrect(f"A number of steps is a non-negative whole number; got {v:g}.")
    raise Incorrect(f"{v:g} is not it. Solve 0.99^k ≤ 1/2 for the smallest integer k.")


halving = Exercise(
    "sched-halving",
    answer="steps_to_half",
    checker=_halving_checker,
    reference=_halving_reference,
    hint="The rate of step k is η · 0.99^k. Take logarithms of 0.99^k ≤ 1/2, then round in "
         "the right direction.",
)


# 3. The rate just after the hand-over of warm-up + cosine -------------------------------------


def _handover_reference() -> float:
    # SequentialLR restarts the cosine at its own step 0 at the milestone W, so step W + 1 is
    # the cosine's step 1 of T - W.
    lr, warmup_steps, total_steps = 0.2, 3, 9
    t = (warmup_steps + 1) - warmup_steps
    lr_after = lr * (1 + math.cos(math.pi * t / (total_steps - warmup_steps))) / 2
    return lr_after


def _handover_checker(answer: Any) -> None:
    v = expect_number("lr_after", answer)
    lr, W, T = 0.2, 3, 9

    def cos(t: float, period: float) -> float:
        return lr * (1 + math.cos(math.pi * t / period)) / 2

    if _close(v, cos(1, T - W)):
        return
    if _close(v, lr):
        raise Incorrect("That is the peak. It is used once, at step W = 3, where SequentialLR "
                        "starts the cosine at its own step 0; the next step is already on "
                        "the way down.")
    if _close(v, cos(W + 1, T)) or _close(v, cos(W + 1, T - W)):
        raise Incorrect("The cosine does not read the global step: SequentialLR restarts it "
                        "at its own step 0 at the milestone.")
    if _close(v, cos(1, T)):
        raise Incorrect("Right idea (the cosine's step 1), wrong length: its T_max is "
                        "T − W = 6, not T.")
    if _close(v, cos(2, T - W)) or _close(v, cos(0.5, T - W)):
        raise Incorrect("Off by one: the cosine's step 0 is step W = 3 of the run.")
    raise Incorrect(f"{v:g} is not it. Which step of the cosine is step 4 of the run, and "
                    "what is the cosine's T_max?")


handover = Exercise(
    "sched-handover",
    answer="lr_after",
    checker=_handover_checker,
    reference=_handover_reference,
    hint="At the milestone W, SequentialLR starts CosineAnnealingLR(T_max = T − W) at its "
         "own step 0. Count from there.",
)


# 4. Implement cosine annealing ----------------------------------------------------------------


def _cosine_reference() -> Callable[..., float]:
    def cosine_lr(step, lr, total_steps, min_lr):
        return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * step / total_steps)) / 2

    return cosine_lr


def _torch_cosine(lr: float, total_steps: int, min_lr: float) -> np.ndarray:
    """CosineAnnealingLR's rates at steps 0..total_steps, driven as in training."""
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps, eta_min=min_lr)
    out = [sched.get_last_lr()[0]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(total_steps):
            opt.step()
            sched.step()
            out.append(sched.get_last_lr()[0])
    return np.array(out)


def _as_rate(value: Any, call: str) -> float:
    if type(value).__module__.startswith("torch"):
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise Incorrect(f"{call} should return a number, got {type(value).__name__}") from None
    if arr.size != 1:
        raise Incorrect(f"{call} should return one number, got an array of shape {arr.shape}")
    return float(arr.reshape(()))


def _cosine_checker(answer: Any) -> None:
    if not callable(answer):
        raise Incorrect(f"`cosine_lr` should be a function, got {type(answer).__name__}")
    for lr, total, min_lr in [(0.1, 10, 0.0), (1.0, 7, 0.1), (0.3, 1, 0.0), (2.0, 50, 0.5)]:
        expected = _torch_cosine(lr, total, min_lr)
        got = np.array([_as_rate(answer(t, lr, total, min_lr),
                                 f"cosine_lr({t}, {lr}, {total}, {min_lr})")
                        for t in range(total + 1)])
        if not np.all(np.isfinite(got)):
            raise Incorrect(f"cosine_lr(t, {lr}, {total}, {min_lr}) gave NaN or infinity")
        if np.allclose(got, expected, rtol=1e-9, atol=1e-15):
            continue
        steps = np.arange(total + 1)
        half = (1 + np.cos(np.pi * steps / total)) / 2
        if min_lr > 0 and np.allclose(got, (lr - min_lr) * half, rtol=1e-6):
            raise Incorrect("Your rates end at 0 instead of min_lr: add min_lr to "
                            "(lr − min_lr) · (1 + cos)/2.")
        if min_lr > 0 and np.allclose(got, lr * half, rtol=1e-6):
            raise Incorrect("Your rates ignore min_lr: the cosine should go from lr down to "
                            "min_lr, not to 0.")
        if np.allclose(got[::-1], expected, rtol=1e-6):
            raise Incorrect("Your rates go up instead of down: the schedule starts at lr "
                            "(cos 0 = 1) and ends at min_lr (cos π = −1).")
        if total > 1 and np.allclose(got[:total], min_lr + (lr - min_lr) * (
                1 + np.cos(np.pi * steps[:total] / (total - 1))) / 2, rtol=1e-6):
            raise Incorrect("You divide by total_steps − 1: CosineAnnealingLR reaches min_lr "
                            "at step T_max itself, after T_max updates.")
        bad = int(np.flatnonzero(~np.isclose(got, expected, rtol=1e-9, atol=1e-15))[0])
        raise Incorrect(f"cosine_lr({bad}, {lr}, {total}, {min_lr}) = {got[bad]:.6g}, but "
                        f"CosineAnnealingLR gives {expected[bad]:.6g} at that step.")


cosine = Exercise(
    "sched-cosine",
    answer="cosine_lr",
    checker=_cosine_checker,
    reference=_cosine_reference,
    hint="Half a cosine period over total_steps steps: (1 + cos(π t / T)) / 2 goes from 1 to "
         "0; scale it to go from lr to min_lr.",
)
