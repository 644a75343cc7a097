"""Timing code honestly: warm up, synchronize the device, repeat, and report the spread.

>>> t = time_call(lambda: sum(range(1000)), repeats=20, warmup=2)
>>> t.n, t.p10 <= t.median <= t.p90
(20, True)

Two rules make a timing trustworthy. First, GPU kernels run *asynchronously*: a call such as
``model(x)`` on CUDA returns as soon as the kernels are queued, long before they finish. Read the
clock right after it and you have timed the launch, not the work. So :func:`time_call`
synchronizes the device (waits for all queued work) before it starts the clock and again before
it reads it. Second, one number hides the noise: we repeat the call, report the median (robust
to the odd slow run) with the 10th and 90th percentiles, and leave the raw times for a plot.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Timing", "compare", "time_call"]


@dataclass(frozen=True)
class Timing:
    """Summary of repeated timings of one call; every figure is in seconds.

    ``median``, ``p10`` and ``p90`` are percentiles of ``times`` (linear interpolation, as
    ``numpy.percentile``); ``std`` is the sample standard deviation (0 when ``n == 1``).
    Build one from raw times with :meth:`from_times`.
    """

    median: float
    p10: float
    p90: float
    mean: float
    std: float
    n: int
    times: tuple[float, ...]

    @classmethod
    def from_times(cls, times: Any) -> Timing:
        """The summary of a sequence of durations in seconds (at least one)."""
        times = tuple(float(t) for t in times)
        if not times:
            raise ValueError("times must hold at least one duration")
        n = len(times)
        mean = sum(times) / n
        std = math.sqrt(sum((t - mean) ** 2 for t in times) / (n - 1)) if n > 1 else 0.0
        return cls(
            median=_percentile(times, 50),
            p10=_percentile(times, 10),
            p90=_percentile(times, 90),
            mean=mean,
            std=std,
            n=n,
            times=times,
        )

    def ratio_to(self, other: Timing) -> float:
        """How many times slower this call is than ``other``: ``self.median / other.median``.

        A value of 3.0 means ``other`` is a 3x speed-up over ``self``.
        """
        if not isinstance(other, Timing):
            raise ValueError(f"other must be a Timing, got {type(other).__name__}")
        if other.median <= 0:
            raise ValueError(f"other.median must be > 0 to divide by it, got {other.median}")
        return self.median / other.median

    def __str__(self) -> str:
        scale, unit = _unit(self.median)
        # three significant digits of the median; the other figures to the same decimals
        digits = max(0, 2 - math.floor(math.log10(self.median * scale))) if self.median > 0 else 2

        def fmt(x: float) -> str:
            return f"{x * scale:.{digits}f}"

        return (
            f"{fmt(self.median)} {unit} ± {fmt(self.std)} "
            f"(median, p10–p90 {fmt(self.p10)}–{fmt(self.p90)}, n={self.n})"
        )


def _percentile(times: tuple[float, ...], q: float) -> float:
    """The ``q``-th percentile with linear interpolation between order statistics."""
    s = sorted(times)
    pos = (len(s) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _unit(seconds: float) -> tuple[float, str]:
    for scale, unit in ((1.0, "s"), (1e3, "ms"), (1e6, "µs")):
        if seconds * scale >= 1.0:
            return scale, unit
    return 1e9, "ns"


def _synchronizer(device: Any) -> Callable[[], None]:
    """A function that waits for all queued work on ``device`` (a no-op on the CPU)."""
    if device is None:
        return lambda: None
    import torch

    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be a torch.device or a name like 'cuda', got {device!r}") from err
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={str(device)!r}, but CUDA is not available here")
        return lambda: torch.cuda.synchronize(device)
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"device={str(device)!r}, but MPS is not available here")
        return torch.mps.synchronize
    if device.type == "cpu":
        return lambda: None
    raise ValueError(f"device must be a cuda, mps or cpu device, got {str(device)!r}")


def _check(repeats: int, warmup: int) -> None:
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an integer >= 0, got {warmup!r}")


def _timed(fn: Callable[[], Any], sync: Callable[[], None]) -> float:
    sync()  # the work queued before us must not be billed to this call
    start = time.perf_counter()
    fn()
    sync()  # wait for the kernels fn queued, not just their launch
    return time.perf_counter() - start


def time_call(
    fn: Callable[[], Any], *, repeats: int = 50, warmup: int = 5, device: Any = None
) -> Timing:
    """Time ``fn()`` ``repeats`` times after ``warmup`` untimed calls.

    Args:
        fn: a callable taking no arguments (wrap arguments with ``lambda`` or ``functools.partial``).
        repeats: number of timed calls, >= 1.
        warmup: untimed calls first, >= 0: they pay one-off costs (lazy initialization, cuDNN
            autotuning, caches, a JIT) that the steady state does not.
        device: where ``fn`` computes. On a CUDA (MPS) device every timed call is bracketed by
            ``torch.cuda.synchronize()`` (``torch.mps.synchronize()``): kernels are launched
            asynchronously, so without a synchronization we would time the launch, not the work.
            ``None`` or a CPU device: no synchronization, and torch is not imported.

    Returns:
        a :class:`Timing` in seconds.
    """
    if not callable(fn):
        raise ValueError(f"fn must be callable, got {type(fn).__name__}")
    _check(repeats, warmup)
    sync = _synchronizer(device)
    for _ in range(warmup):
        fn()
    return Timing.from_times(_timed(fn, sync) for _ in range(repeats))


def compare(
    fns: Mapping[str, Callable[[], Any]],
    *,
    repeats: int = 50,
    warmup: int = 5,
    interleave: bool = True,
    device: Any = None,
) -> dict[str, Timing]:
    """Time several candidates under the same conditions; a :class:`Timing` per name.

    With ``interleave=True`` (the default) the candidates take turns, round by round:
    ``a, b, c, a, b, c, ...``. A machine's speed drifts while we measure (clock boost and thermal
    throttling, another process waking up, a notebook autosaving), and timing ``a`` fully and then
    ``b`` would bill that drift to whichever ran at the bad moment. Interleaved, every candidate
    sees the same drift, so their *ratio* stays honest even when the absolute times wander.
    ``interleave=False`` times each candidate in turn, as :func:`time_call` would.

    Warm-up calls are interleaved the same way and are not timed.
    """
    if not isinstance(fns, Mapping) or not fns:
        raise ValueError("fns must be a non-empty dict mapping names to callables")
    for name, fn in fns.items():
        if not callable(fn):
            raise ValueError(f"fns[{name!r}] must be callable, got {type(fn).__name__}")
    _check(repeats, warmup)
    sync = _synchronizer(device)
    if not interleave:
        return {
            name: time_call(fn, repeats=repeats, warmup=warmup, device=device)
            for name, fn in fns.items()
        }
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(_timed(fn, sync))
    return {name: Timing.from_times(ts) for name, ts in times.items()}
