"""Learning-rate schedules against torch.optim.lr_scheduler, step by step; the range test on digits.

The reference for each schedule is the torch scheduler driven as in training: one optimizer
step, then one ``scheduler.step()``; ``schedule(k)`` must equal ``get_last_lr()[0]`` after k
scheduler steps. Torch computes most schedules recursively from the previous rate, ours in
closed form, so they agree to rounding: relative 1e-12 (cosine: plus an absolute 1e-15 near
``min_lr = 0``, where ``1 + cos(x)`` for ``x`` near pi loses relative precision in both);
OneCycleLR uses the same operations in the same order, so there we ask for equality.
"""

import doctest
import json
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as S

from dlopt_lab import schedules
from dlopt_lab.data import digits_loaders
from dlopt_lab.schedules import (
    LRRangeResult,
    constant,
    cosine_annealing,
    exponential_decay,
    lr_range_test,
    one_cycle,
    plot_lr_range,
    plot_schedule,
    step_decay,
    warmup_cosine,
)

REL, ABS = 1e-12, 1e-15


def torch_lrs(lr, make, num_steps):
    """``get_last_lr()[0]`` of ``make(optimizer)`` after 0, 1, ..., num_steps - 1 steps."""
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=lr)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "scheduler.step() before optimizer.step()"
        sched = make(opt)
        out = [sched.get_last_lr()[0]]
        for _ in range(num_steps - 1):
            opt.step()
            sched.step()
            out.append(sched.get_last_lr()[0])
    return np.array(out)


def assert_same(ours, ref, rel=REL, abs_=ABS):
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape
    bad = ~np.isclose(ours, ref, rtol=rel, atol=abs_)
    assert not bad.any(), f"steps {np.flatnonzero(bad)[:5]}: {ours[bad][:5]} vs {ref[bad][:5]}"


# --------------------------------------------------------------------------------------------
# Each schedule against its torch scheduler, at every step
# --------------------------------------------------------------------------------------------


def test_constant_is_the_same_rate_at_every_step():
    ref = torch_lrs(0.1, lambda o: S.ConstantLR(o, factor=1.0, total_iters=0), 50)
    assert constant(0.1).values(50).tolist() == ref.tolist() == [0.1] * 50


@pytest.mark.parametrize("lr, step_size, gamma",
                         [(0.1, 1, 0.1), (0.1, 3, 0.5), (1.0, 7, 0.9), (0.05, 2, 1.5)])
def test_step_decay_equals_StepLR(lr, step_size, gamma):
    ref = torch_lrs(lr, lambda o: S.StepLR(o, step_size, gamma), 60)
    assert_same(step_decay(lr, step_size, gamma).values(60), ref)


@pytest.mark.parametrize("lr, gamma", [(0.1, 0.9), (1.0, 0.5), (0.01, 1.05), (0.3, 1.0)])
def test_exponential_decay_equals_ExponentialLR(lr, gamma):
    ref = torch_lrs(lr, lambda o: S.ExponentialLR(o, gamma), 80)
    assert_same(exponential_decay(lr, gamma).values(80), ref)


@pytest.mark.parametrize("lr, total, min_lr",
                         [(0.1, 1, 0.0), (0.1, 10, 0.0), (1.0, 37, 0.01), (0.5, 20, 0.5),
                          (0.1, 1000, 1e-4), (0.1, 1000, 0.0)])
def test_cosine_annealing_equals_CosineAnnealingLR_up_to_total_steps(lr, total, min_lr):
    ref = torch_lrs(lr, lambda o: S.CosineAnnealingLR(o, T_max=total, eta_min=min_lr), total + 1)
    ours = cosine_annealing(lr, total, min_lr)
    assert_same(ours.values(total + 1), ref)
    assert ours(0) == lr and ours(total) == min_lr


def test_cosine_annealing_stays_at_min_lr_after_total_steps_where_torch_climbs_back():
    ours = cosine_annealing(1.0, 10, min_lr=0.1)
    ref = torch_lrs(1.0, lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.1), 21)
    assert ours.values(30)[10:].tolist() == [0.1] * 20
    assert ref[11] > 0.1 and ref[20] == pytest.approx(1.0)  # torch: period 2 T_max


def sequential(lr, warmup, total, min_lr, start_factor):
    def make(o):
        return S.SequentialLR(o, [
            S.LinearLR(o, start_factor=start_factor, end_factor=1.0, total_iters=warmup),
            S.CosineAnnealingLR(o, T_max=total - warmup, eta_min=min_lr),
        ], milestones=[warmup])
    return torch_lrs(lr, make, total + 1)


WARMUP_CASES = [  # lr, warmup_steps, total_steps, min_lr, start_factor
    (0.1, 1, 10, 0.0, None),
    (0.1, 9, 10, 0.0, None),  # warmup_steps = total_steps - 1: one step of decay
    (1.0, 5, 50, 0.01, 0.1),
    (0.3, 20, 100, 0.03, 1 / 3),
    (0.5, 3, 4, 0.0, 1.0),  # start_factor 1: no ramp at all
    (0.1, 50, 51, 0.05, 0.01),
    (2.0, 100, 1000, 0.0, None),
]


@pytest.mark.parametrize("lr, warmup, total, min_lr, start_factor", WARMUP_CASES)
def test_warmup_cosine_equals_SequentialLR_at_every_step(lr, warmup, total, min_lr, start_factor):
    ours = warmup_cosine(lr, warmup, total, min_lr, start_factor)
    ref = sequential(lr, warmup, total, min_lr, ours.start_factor)
    assert_same(ours.values(total + 1), ref)


def test_warmup_cosine_without_warmup_is_cosine_annealing():
    # The reference is CosineAnnealingLR itself: SequentialLR with milestones=[0] starts with
    # the warm-up's first value in torch < 2.13 (pytorch/pytorch#185872).
    ours = warmup_cosine(0.2, 0, 30, min_lr=0.01)
    ref = torch_lrs(0.2, lambda o: S.CosineAnnealingLR(o, T_max=30, eta_min=0.01), 31)
    assert_same(ours.values(31), ref)
    assert_same(ours.values(40), cosine_annealing(0.2, 30, 0.01).values(40), 0, 0)


def test_warmup_cosine_hand_over_from_warmup_to_decay():
    lr, W, T, s = 0.4, 4, 12, 0.25
    ours = warmup_cosine(lr, W, T, min_lr=0.0, start_factor=s)
    ref = sequential(lr, W, T, 0.0, s)
    # torch: SequentialLR restarts the cosine at its step 0 at the milestone: exactly the base lr
    assert ref[W] == lr and ours(W) == lr
    # the warm-up's last step is still below the peak, the first decay step already below it
    assert ours(W - 1) == pytest.approx(lr * (s + (1 - s) * (W - 1) / W), rel=REL)
    assert ref[W - 1] == pytest.approx(ours(W - 1), rel=REL) and ref[W - 1] < lr
    assert ref[W + 1] == pytest.approx(ours(W + 1), rel=REL) and ref[W + 1] < lr
    # the peak is used exactly once, and min_lr is reached at step total_steps
    assert (ref == ref.max()).sum() == 1 and int(np.argmax(ours.values(T + 1))) == W
    assert ours(T) == 0.0 and ours(T - 1) > 0.0 and ref[T] == pytest.approx(0.0, abs=ABS)


def test_warmup_cosine_default_start_factor_ramps_in_equal_increments():
    lr, W = 0.6, 5
    ours = warmup_cosine(lr, W, 20)
    assert ours.start_factor == 1 / (W + 1)
    assert_same([ours(t) for t in range(W + 1)], [lr * (t + 1) / (W + 1) for t in range(W + 1)])


ONE_CYCLE_CASES = [  # max_lr, total_steps, pct_start, div_factor, final_div_factor
    (1.0, 100, 0.3, 25.0, 1e4),
    (0.1, 37, 0.25, 10.0, 100.0),
    (0.01, 250, 0.5, 5.0, 1e3),
    (1.0, 20, 0.15, 25.0, 1e4),
    (2.0, 3, 0.3, 25.0, 1e4),  # pct_start * total_steps < 1: step 0 already decays
    (0.5, 1, 0.3, 25.0, 1e4),  # a single step
    (0.3, 64, 0.45, 1.0, 1.0),
]


@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("anneal_strategy", ["cos", "linear"])
@pytest.mark.parametrize("max_lr, total, pct, div, final_div", ONE_CYCLE_CASES)
def test_one_cycle_equals_OneCycleLR_at_every_step(max_lr, total, pct, div, final_div,
                                                   anneal_strategy, three_phase):
    kw = dict(pct_start=pct, div_factor=div, final_div_factor=final_div,
              anneal_strategy=anneal_strategy, three_phase=three_phase)
    ref = torch_lrs(1.0, lambda o: S.OneCycleLR(o, max_lr, total_steps=total,
                                                cycle_momentum=False, **kw), total)
    ours = one_cycle(max_lr, total, **kw)
    assert ours.values(total).tolist() == ref.tolist()


def test_one_cycle_refuses_the_step_after_the_run_where_torch_extrapolates():
    ours = one_cycle(1.0, 10, anneal_strategy="linear")
    with pytest.raises(ValueError, match="step"):
        ours(10)
    ref = torch_lrs(1.0, lambda o: S.OneCycleLR(o, 1.0, total_steps=10, cycle_momentum=False,
                                                anneal_strategy="linear"), 11)
    assert ref[9] == ours(9) > 0 and ref[10] < 0  # torch's step T: past min_lr, negative here
    with pytest.raises(ValueError, match="Tried to step 11 times"):
        torch_lrs(1.0, lambda o: S.OneCycleLR(o, 1.0, total_steps=10, cycle_momentum=False), 12)


def test_one_cycle_refuses_a_zero_length_warmup_where_torch_divides_by_zero():
    with pytest.raises(ZeroDivisionError):
        torch_lrs(1.0, lambda o: S.OneCycleLR(o, 1.0, total_steps=10, pct_start=0.1,
                                              cycle_momentum=False), 1)
    with pytest.raises(ValueError, match="pct_start"):
        one_cycle(1.0, 10, pct_start=0.1)


# --------------------------------------------------------------------------------------------
# The boundary: bad arguments, steps, repr
# --------------------------------------------------------------------------------------------

BAD = [
    ("lr", lambda: constant(-0.1)),
    ("lr", lambda: step_decay(float("nan"), 3)),
    ("step_size", lambda: step_decay(0.1, 0)),
    ("step_size", lambda: step_decay(0.1, 2.0)),
    ("gamma", lambda: step_decay(0.1, 2, gamma=0.0)),
    ("gamma", lambda: exponential_decay(0.1, -0.5)),
    ("total_steps", lambda: cosine_annealing(0.1, 0)),
    ("total_steps", lambda: cosine_annealing(0.1, 10.0)),
    ("min_lr", lambda: cosine_annealing(0.1, 10, min_lr=-1e-3)),
    ("min_lr", lambda: cosine_annealing(0.1, 10, min_lr=0.2)),
    ("warmup_steps", lambda: warmup_cosine(0.1, -1, 10)),
    ("warmup_steps", lambda: warmup_cosine(0.1, 10, 10)),
    ("warmup_steps", lambda: warmup_cosine(0.1, 11, 10)),
    ("total_steps", lambda: warmup_cosine(0.1, 0, 0)),
    ("min_lr", lambda: warmup_cosine(0.1, 2, 10, min_lr=0.5)),
    ("start_factor", lambda: warmup_cosine(0.1, 2, 10, start_factor=0.0)),
    ("start_factor", lambda: warmup_cosine(0.1, 2, 10, start_factor=1.5)),
    ("max_lr", lambda: one_cycle(-1.0, 10)),
    ("total_steps", lambda: one_cycle(1.0, 0)),
    ("pct_start", lambda: one_cycle(1.0, 10, pct_start=0.0)),
    ("pct_start", lambda: one_cycle(1.0, 10, pct_start=1.0)),
    ("pct_start", lambda: one_cycle(1.0, 10, pct_start=0.6, three_phase=True)),
    ("div_factor", lambda: one_cycle(1.0, 10, div_factor=0.0)),
    ("final_div_factor", lambda: one_cycle(1.0, 10, final_div_factor=-1.0)),
    ("anneal_strategy", lambda: one_cycle(1.0, 10, anneal_strategy="exp")),
    ("step", lambda: constant(0.1)(-1)),
    ("step", lambda: constant(0.1)(1.5)),
    ("step", lambda: constant(0.1)(True)),
    ("step", lambda: step_decay(0.1, 2)("3")),
    ("step", lambda: one_cycle(1.0, 10)(10)),
    ("num_steps", lambda: constant(0.1).values(-1)),
]


@pytest.mark.parametrize("name, call", BAD, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD)])
def test_bad_arguments_raise_a_ValueError_naming_them(name, call):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        call()


def test_gamma_above_one_grows_and_numpy_integers_are_steps():
    sched = exponential_decay(0.1, 2.0)
    assert sched(np.int64(3)) == 0.8 and isinstance(sched(np.int64(3)), float)


SCHEDULES = [constant(0.1), step_decay(0.1, 3, 0.5), exponential_decay(0.1, 0.97),
             cosine_annealing(0.1, 20, 1e-3), warmup_cosine(0.1, 5, 20, 1e-3),
             one_cycle(0.1, 20, three_phase=True, anneal_strategy="linear")]


@pytest.mark.parametrize("sched", SCHEDULES, ids=lambda s: s.factory)
def test_repr_rebuilds_the_schedule_and_values_are_the_calls(sched):
    rebuilt = eval(repr(sched), vars(schedules))  # our own repr, round-tripped
    assert rebuilt == sched and type(rebuilt) is type(sched)
    assert repr(sched).startswith(sched.factory + "(")
    assert sched.values(20).tolist() == [sched(t) for t in range(20)]
    with pytest.raises(AttributeError):
        sched.lr = 1.0  # frozen
    assert isinstance(sched, schedules.Schedule)


def test_importing_the_module_imports_neither_torch_nor_matplotlib():
    code = ("import json, sys, dlopt_lab.schedules\n"
            "print(json.dumps([m for m in ('torch', 'matplotlib') if m in sys.modules]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert json.loads(out.stdout) == []


def test_docstring_examples():
    result = doctest.testmod(schedules, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted >= 8 and result.failed == 0


# --------------------------------------------------------------------------------------------
# The learning-rate range test, on digits
# --------------------------------------------------------------------------------------------


def mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10))


def sgd(params, lr):
    return torch.optim.SGD(params, lr=lr)


@pytest.fixture(scope="module")
def loaders():
    return digits_loaders(batch_size=64, seed=0)


@pytest.fixture(scope="module")
def mlp_result(loaders):
    return lr_range_test(mlp(), sgd, digits_loaders(batch_size=64, seed=0)["train"])


def test_range_test_leaves_the_model_loader_and_random_state_untouched():
    model = mlp().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loader = digits_loaders(batch_size=64, seed=3)["train"]
    rng = torch.get_rng_state()
    res = lr_range_test(model, sgd, loader, num_steps=40, max_lr=100.0)
    assert len(res.lrs) > 17  # more than one epoch, so the model really was trained
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in model.parameters()) and not model.training
    assert torch.equal(torch.get_rng_state(), rng)
    fresh = digits_loaders(batch_size=64, seed=3)["train"]  # the same next epoch as a fresh one
    assert all(torch.equal(a[1], b[1]) for a, b in zip(loader, fresh, strict=True))


def test_range_test_losses_equal_a_loop_written_by_hand():
    # 60 steps: more than three epochs of 17 batches, so the loader is cycled
    res = lr_range_test(mlp(), sgd, digits_loaders(batch_size=64, seed=1)["train"],
                        min_lr=1e-3, max_lr=1.0, num_steps=60, smoothing=0.1)
    assert not res.stopped_early and len(res.losses) == 60
    model, lrs, losses = mlp(), np.geomspace(1e-3, 1.0, 60), []
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    loader = digits_loaders(batch_size=64, seed=1)["train"]
    batches = [b for _ in range(4) for b in loader][:60]
    for lr, (X, y) in zip(lrs, batches, strict=True):
        opt.param_groups[0]["lr"] = float(lr)
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(X), y)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    assert res.losses.tolist() == losses
    # smoothing: the weighted mean of the losses so far, weights w (1 - w)^(i - j)
    for i in (0, 1, 7, 59):
        weights = 0.1 * 0.9 ** np.arange(i, -1, -1)
        assert res.smoothed[i] == pytest.approx(weights @ res.losses[: i + 1] / weights.sum(),
                                                rel=1e-12)


def test_range_test_rates_grow_geometrically_and_are_the_rates_used(loaders):
    used = []

    class Recording(torch.optim.SGD):
        def step(self, closure=None):
            used.append(self.param_groups[0]["lr"])
            return super().step(closure)

    res = lr_range_test(mlp(), lambda p, lr: Recording(p, lr=lr), loaders["train"],
                        min_lr=1e-4, max_lr=1.0, num_steps=50)
    assert res.lrs[0] == 1e-4 and res.lrs[-1] == pytest.approx(1.0, rel=1e-14)
    np.testing.assert_allclose(res.lrs[1:] / res.lrs[:-1], 10 ** (4 / 49), rtol=1e-12)
    assert used == res.lrs.tolist()
    assert len(res.losses) == len(res.smoothed) == 50 and not res.stopped_early


def test_range_test_stops_early_when_max_lr_is_huge(loaders):
    res = lr_range_test(mlp(), sgd, loaders["train"], max_lr=1e3, num_steps=100)
    assert res.stopped_early and 10 < len(res.lrs) < 100
    last, before = res.smoothed[-1], res.smoothed[:-1]
    assert not math.isfinite(last) or last > 4.0 * before.min()
    assert np.all(before <= 4.0 * np.minimum.accumulate(before))  # no earlier stop was missed
    assert res.lrs[-1] < 1e3


def test_range_test_stops_on_a_non_finite_loss(loaders):
    calls = []

    def loss_fn(out, y):
        calls.append(1)
        loss = torch.nn.functional.cross_entropy(out, y)
        return loss * math.nan if len(calls) == 6 else loss

    res = lr_range_test(mlp(), sgd, loaders["train"], max_lr=1e-2, loss_fn=loss_fn)
    assert res.stopped_early and len(res.losses) == 6 and math.isnan(res.losses[-1])
    assert res.lr_at_min in res.lrs[:5]
    calls.clear()  # a blow-up at the very last step is not an early stop
    res = lr_range_test(mlp(), sgd, loaders["train"], max_lr=1e-2, num_steps=6, loss_fn=loss_fn)
    assert not res.stopped_early and len(res.losses) == 6 and math.isnan(res.smoothed[-1])


def test_range_test_that_never_diverges_suggests_a_tenth_of_its_last_rate(loaders):
    res = lr_range_test(mlp(), sgd, loaders["train"], min_lr=1e-2, max_lr=0.5, num_steps=40)
    assert not res.stopped_early and len(res.lrs) == 40
    assert res.lr_at_min == res.lrs[-1] and res.suggested_lr == pytest.approx(0.05, rel=1e-12)


def test_suggested_lr_trains_well(mlp_result, loaders):
    res = mlp_result
    assert isinstance(res, LRRangeResult) and res.stopped_early
    assert 1e-5 <= res.suggested_lr <= 10.0 and 1e-5 <= res.steepest_lr <= 10.0
    assert res.suggested_lr == pytest.approx(res.lr_at_min / 10, rel=1e-12)

    def val_loss_after(lr, epochs=3):
        model, loader = mlp(), digits_loaders(batch_size=64, seed=1)["train"]
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        for _ in range(epochs):
            for X, y in loader:
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(X), y).backward()
                opt.step()
        data = loaders["val"].dataset.tensors
        with torch.no_grad():
            return float(torch.nn.functional.cross_entropy(model(*data[:1]), data[1]))

    grid = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0]
    trained = {lr: val_loss_after(lr) for lr in grid}
    best = min(trained, key=trained.get)
    assert best / 10 <= res.suggested_lr <= best * 10, (res.suggested_lr, trained)
    initial = val_loss_after(res.suggested_lr, epochs=0)
    assert trained[0.01] > 0.9 * initial  # the grid spans too small as well as good
    # five epochs at the suggestion cut the loss by more than two thirds; ten times that
    # rate, the minimum of the range test's curve, is past the edge: why we divide by 10
    assert val_loss_after(res.suggested_lr, epochs=5) < initial / 3
    assert val_loss_after(res.lr_at_min, epochs=5) > initial


def test_suggestions_on_a_known_curve():
    lrs = np.geomspace(1e-4, 10.0, 51)  # ten points per decade
    x = np.log10(lrs)
    smoothed = 2 - np.tanh(2 * (x + 1)) + np.maximum(x, 0) ** 2  # falls fastest at 0.1, min at 1
    suggested, at_min, steepest = schedules._suggestions(lrs, smoothed)
    assert steepest == pytest.approx(0.1, rel=1e-12)
    assert 0.8 <= at_min <= 1.6 and suggested == at_min / 10
    smoothed[30:] = np.nan  # the finite prefix only
    assert schedules._suggestions(lrs, smoothed)[1] == lrs[29]
    # a loss that only rises: the minimum is the first rate, and the suggestion stays in range
    assert schedules._suggestions(lrs, np.exp(x))[:2] == (1e-4, 1e-4)


RANGE_BAD = [("min_lr", dict(min_lr=0.0)), ("max_lr", dict(min_lr=1e-2, max_lr=1e-2)),
             ("num_steps", dict(num_steps=1)), ("smoothing", dict(smoothing=0.0)),
             ("smoothing", dict(smoothing=1.5)), ("diverge_factor", dict(diverge_factor=1.0))]


@pytest.mark.parametrize("name, kw", RANGE_BAD, ids=[n for n, _ in RANGE_BAD])
def test_range_test_bad_arguments(name, kw, loaders):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        lr_range_test(mlp(), sgd, loaders["train"], **kw)


# --------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------


def test_plot_schedule_draws_the_values():
    sched = warmup_cosine(0.1, 5, 30, 1e-3)
    ax = plot_schedule(sched, 31)
    (line,) = ax.get_lines()
    assert line.get_ydata().tolist() == sched.values(31).tolist()
    assert line.get_label() == repr(sched) and ax.get_yscale() == "linear"
    ax2 = plot_schedule(exponential_decay(1.0, 0.9), 10, ax=ax, label="exp", logy=True)
    assert ax2 is ax and ax.get_yscale() == "log" and ax.get_lines()[1].get_label() == "exp"


def test_plot_lr_range_uses_a_log_axis_and_marks_the_suggestion(mlp_result):
    import matplotlib.pyplot as plt

    _, given = plt.subplots()
    ax = plot_lr_range(mlp_result, ax=given)
    assert ax is given and ax.get_xscale() == "log"
    labels = [ln.get_label() for ln in ax.get_lines()]
    assert "smoothed loss" in labels and "mini-batch loss" in labels
    smoothed = ax.get_lines()[labels.index("smoothed loss")]
    assert smoothed.get_ydata().tolist() == mlp_result.smoothed.tolist()
    assert any(f"{mlp_result.suggested_lr:.2g}" in lab for lab in labels)
    assert any(np.allclose(ln.get_xdata(), mlp_result.suggested_lr) for ln in ax.get_lines()
               if len(ln.get_xdata()) in (1, 2))
    assert isinstance(plot_lr_range(mlp_result).get_xscale(), str)  # ax=None makes a figure
