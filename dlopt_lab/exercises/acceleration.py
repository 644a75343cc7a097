"""Exercises of the chapter "Acceleration: where the time goes"."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch  # imported here, not inside a check's time limit

from dlopt_lab.exercises.core import Exercise, Incorrect, expect_number

__all__ = ["fp16_value", "loss_scale", "ring_bytes", "timed"]


def _close(a: float, b: float) -> bool:
    # tight: a byte count of 7e8 that is off by 0.1 is still wrong
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)


# 1. A small number in float16 ----------------------------------------------------------------


def _fp16_reference() -> float:
    # 1e-7 < 2^-14 (the smallest normal), so it is a subnormal: a multiple of 2^-24.
    # 1e-7 / 2^-24 = 1.68 rounds to 2.
    spacing = 2.0**-24
    fp16_value = round(1e-7 / spacing) * spacing
    return fp16_value


def _fp16_checker(answer: Any) -> None:
    v = expect_number("fp16_value", answer)
    expected = torch.tensor(1e-7, dtype=torch.float16).item()  # 2^-23
    if _close(v, expected):
        return
    if v == 0:
        raise Incorrect("1e-7 does not underflow to zero: below the smallest normal number "
                        "float16 still has subnormals, multiples of 2^-24 ≈ 5.96e-8.")
    if _close(v, 1e-7):
        raise Incorrect("1e-7 is not a float16 number: it is rounded to the nearest multiple "
                        "of the subnormal spacing 2^-24.")
    if _close(v, 2.0**-24):
        raise Incorrect("That is one subnormal step. 1e-7 / 2^-24 ≈ 1.68: which multiple is "
                        "nearest?")
    raise Incorrect(f"{v:g} is not it. Divide 1e-7 by the spacing 2^-24, round to the nearest "
                    "integer and multiply back.")


fp16_value = Exercise(
    "accel-fp16-value",
    answer="fp16_value",
    checker=_fp16_checker,
    reference=_fp16_reference,
    hint="Below 2^-14 the float16 numbers are evenly spaced, 2^-24 apart. Round 1e-7 to the "
         "nearest of them.",
)


# 2. The loss scale ---------------------------------------------------------------------------


def _scale_reference() -> float:
    smallest_normal = 2.0**-14
    scale = 2.0 ** math.ceil(math.log2(smallest_normal / 1e-8))  # 2^13
    return scale


def _scale_checker(answer: Any) -> None:
    v = expect_number("scale", answer)
    if _close(v, 8192.0):
        return
    if v > 0 and not _close(2.0 ** round(math.log2(v)), v):
        raise Incorrect(f"{v:g} is not a power of two. Loss scales are powers of two, so that "
                        "scaling and unscaling are exact (only the exponent changes).")
    if _close(v, 4096.0) or (0 < v < 8192):
        raise Incorrect(f"With S = {v:g}, S · 1e-8 = {v * 1e-8:.3g} is still below 2^-14 ≈ "
                        "6.1e-5, a subnormal.")
    if v > 8192:
        raise Incorrect(f"S = {v:g} works, but it is not the smallest power of two that does.")
    raise Incorrect(f"{v:g} is not it: the scale must be a positive power of two.")


loss_scale = Exercise(
    "accel-loss-scale",
    answer="scale",
    checker=_scale_checker,
    reference=_scale_reference,
    hint="Solve S · 1e-8 ≥ 2^-14 for S, then round up to a power of two (math.log2, math.ceil).",
)


# 3. Bytes moved by a ring all-reduce ---------------------------------------------------------


def _ring_reference() -> float:
    N = 8
    message = 100e6 * 4  # float32: 4 bytes per parameter
    # reduce-scatter: N - 1 chunks of message / N; all-gather: as many again
    bytes_sent = 2 * (N - 1) / N * message
    return bytes_sent


def _ring_checker(answer: Any) -> None:
    v = expect_number("bytes_sent", answer)
    message = 4e8
    if _close(v, 2 * 7 / 8 * message):
        return
    if _close(v, 2 * 7 / 8 * 1e8):
        raise Incorrect("That counts parameters, not bytes: a float32 takes 4 bytes.")
    if _close(v, 7 / 8 * message):
        raise Incorrect("That is one phase only. A ring all-reduce is a reduce-scatter followed "
                        "by an all-gather, and each sends the same amount.")
    if _close(v, 2 * message):
        raise Incorrect("Close: each GPU sends N − 1 chunks of size bytes/N per phase, not the "
                        "whole message.")
    if _close(v, message):
        raise Incorrect("That is the size of the message, not what a GPU sends in a ring.")
    if _close(v, 2 * 7 * message):
        raise Incorrect("Each step of the ring sends one chunk, bytes/N, not the whole message.")
    raise Incorrect(f"{v:g} is not it. Count the chunks a GPU sends in each of the two phases "
                    "and the size of a chunk.")


ring_bytes = Exercise(
    "accel-ring-bytes",
    answer="bytes_sent",
    checker=_ring_checker,
    reference=_ring_reference,
    hint="The message has 100e6 × 4 bytes and is cut into N = 8 chunks. The ring runs a "
         "reduce-scatter (N − 1 steps) and an all-gather (N − 1 steps), one chunk per step.",
)


# 4. Time the work, not the launch ------------------------------------------------------------


class _FakeDevice:
    """A simulated asynchronous device: ``fn`` queues work and returns at once."""

    def __init__(self, pending: float, launch: float, work: float) -> None:
        self.now = 0.0
        self.pending = pending  # seconds of work queued before the timed call
        self.launch, self.work = launch, work

    def clock(self) -> float:
        return self.now

    def sync(self) -> None:
        self.now += self.pending
        self.pending = 0.0

    def fn(self) -> None:
        self.now += self.launch  # the call returns after the launch ...
        self.pending += self.work  # ... with its work still queued


def _timed_reference() -> Callable[..., float]:
    def timed(fn, sync, clock):
        sync()  # earlier work is not ours
        start = clock()
        fn()
        sync()  # wait for fn's work, not just its launch
        return clock() - start

    return timed


def _timed_checker(answer: Any) -> None:
    if not callable(answer):
        raise Incorrect(f"`timed` should be a function, got {type(answer).__name__}")
    for pending, launch, work in [(5.0, 0.001, 2.0), (0.0, 0.002, 0.5), (1.5, 0.0005, 0.25)]:
        dev = _FakeDevice(pending, launch, work)
        got = expect_number("timed(fn, sync, clock)", answer(dev.fn, dev.sync, dev.clock))
        expected = launch + work
        if math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12):
            continue
        if pending and math.isclose(got, pending + expected, rel_tol=1e-9):
            raise Incorrect("Your timing includes work that was queued before the call: "
                            "synchronize before you start the clock.")
        if math.isclose(got, launch, rel_tol=1e-9):
            raise Incorrect("You timed the launch only: fn() returns before its work is done. "
                            "Synchronize before you read the clock the second time.")
        raise Incorrect(f"With {work} s of work launched in {launch} s, your function returned "
                        f"{got:g} s, expected {expected:g} s.")


timed = Exercise(
    "accel-timed",
    answer="timed",
    checker=_timed_checker,
    reference=_timed_reference,
    hint="Two calls of sync(): one before you read the clock the first time, one before you "
         "read it the second time.",
)
