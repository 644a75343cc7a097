"""Timing: statistics against numpy, a known sleep, warm-up, interleaving and device sync."""

import time

import numpy as np
import pytest
import torch

from dlopt_lab.timing import Timing, compare, time_call


def test_statistics_equal_numpy():
    rng = np.random.default_rng(0)
    times = rng.exponential(1e-3, size=37)
    t = Timing.from_times(times)
    assert t.n == 37 and t.times == tuple(times)
    assert t.median == pytest.approx(np.median(times), rel=1e-12)
    assert t.p10 == pytest.approx(np.percentile(times, 10), rel=1e-12)
    assert t.p90 == pytest.approx(np.percentile(times, 90), rel=1e-12)
    assert t.mean == pytest.approx(times.mean(), rel=1e-12)
    assert t.std == pytest.approx(times.std(ddof=1), rel=1e-12)
    assert Timing.from_times([0.5]).std == 0.0


def test_sleep_of_known_length_is_measured():
    # time.sleep never returns early; the upper bound is generous for a loaded 2-core machine.
    t = time_call(lambda: time.sleep(0.002), repeats=15, warmup=1)
    assert t.n == 15 and len(t.times) == 15
    assert 0.002 <= t.p10 <= t.median <= t.p90
    assert t.median < 0.012


def test_warmup_calls_are_made_but_not_timed():
    calls = []
    t = time_call(lambda: calls.append(1), repeats=7, warmup=3)
    assert len(calls) == 10 and t.n == 7
    calls.clear()
    assert time_call(lambda: calls.append(1), repeats=1, warmup=0).n == 1 and len(calls) == 1


def test_a_slow_warmup_does_not_reach_the_statistics():
    calls = []

    def fn():
        calls.append(1)
        if len(calls) <= 2:  # the first two calls are slow, as a cold cache or a JIT would be
            time.sleep(0.05)

    t = time_call(fn, repeats=5, warmup=2)
    assert max(t.times) < 0.04


def test_compare_interleaves_round_by_round():
    order = []
    fns = {name: (lambda name=name: order.append(name)) for name in ("a", "b", "c")}
    result = compare(fns, repeats=3, warmup=1)
    assert order == ["a", "b", "c"] * 4
    assert list(result) == ["a", "b", "c"] and all(r.n == 3 for r in result.values())

    order.clear()
    compare(fns, repeats=3, warmup=1, interleave=False)
    assert order == ["a"] * 4 + ["b"] * 4 + ["c"] * 4


def test_compare_tells_the_slower_candidate():
    result = compare({"slow": lambda: time.sleep(0.004), "fast": lambda: time.sleep(0.001)},
                     repeats=8, warmup=1)
    assert result["slow"].median > result["fast"].median
    assert result["slow"].ratio_to(result["fast"]) > 1.5


def test_cuda_device_is_synchronized_around_every_timed_call(monkeypatch):
    events = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: events.append(("sync", str(device))))
    t = time_call(lambda: events.append("call"), repeats=4, warmup=2, device="cuda")
    assert t.n == 4
    assert events == ["call"] * 2 + [("sync", "cuda"), "call", ("sync", "cuda")] * 4

    events.clear()
    compare({"a": lambda: events.append("call")}, repeats=2, warmup=0, device=torch.device("cuda"))
    assert events == [("sync", "cuda"), "call", ("sync", "cuda")] * 2


def test_cpu_is_not_synchronized(monkeypatch):
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: pytest.fail("synchronized"))
    assert time_call(lambda: None, repeats=3, warmup=0, device="cpu").n == 3


def test_ratio_and_str():
    slow, fast = Timing.from_times([2.0, 2.0]), Timing.from_times([0.5, 0.5])
    assert slow.ratio_to(fast) == 4.0 and fast.ratio_to(slow) == 0.25
    t = Timing(median=1.23e-3, p10=1.20e-3, p90=1.31e-3, mean=1.24e-3, std=5e-5, n=50, times=())
    assert str(t) == "1.23 ms ± 0.05 (median, p10–p90 1.20–1.31, n=50)"
    assert str(Timing.from_times([2.5e-6])) == "2.50 µs ± 0.00 (median, p10–p90 2.50–2.50, n=1)"
    assert str(Timing.from_times([12.0])).startswith("12.0 s")


@pytest.mark.parametrize("kwargs, match", [
    (dict(repeats=0), "repeats"),
    (dict(repeats=2.5), "repeats"),
    (dict(warmup=-1), "warmup"),
    (dict(device="tpu"), "device"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        time_call(lambda: None, **kwargs)
    with pytest.raises(ValueError, match=match):
        compare({"a": lambda: None}, **kwargs)


def test_bad_callables_and_values():
    with pytest.raises(ValueError, match="fn must be callable"):
        time_call(3)
    with pytest.raises(ValueError, match="fns"):
        compare({})
    with pytest.raises(ValueError, match=r"fns\['b'\]"):
        compare({"a": lambda: None, "b": "not a function"})
    with pytest.raises(ValueError, match="times"):
        Timing.from_times([])
    with pytest.raises(ValueError, match="other"):
        Timing.from_times([1.0]).ratio_to(1.0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_without_cuda():
    with pytest.raises(ValueError, match="CUDA is not available"):
        time_call(lambda: None, device="cuda")
