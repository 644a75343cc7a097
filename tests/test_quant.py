"""Quantization: fake_quantize against torch.fake_quantize_per_{tensor,channel}_affine bit for bit
(values and straight-through gradients), qparams against torch.ao's MinMaxObserver and
PerChannelMinMaxObserver and against hand-computed values, the error bound and the other laws by
hypothesis, the number of levels, and every ValueError.

torch.ao.quantization is deprecated in torch 2.13 but imports without a warning here; the
observer tests would fail (not skip) if it disappeared."""

import doctest
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver

import dlopt_lab.quant as quant
from dlopt_lab.quant import (
    QuantizedTensor,
    calibrate_minmax,
    calibrate_percentile,
    fake_quantize,
    qparams,
    qrange,
    quantize,
)

EPS32 = float(np.finfo(np.float32).eps)
BITS = [2, 4, 8]


def f32(v):
    """The float32 number nearest to v, as a Python float."""
    return float(np.float32(v))


def torch_fake_quantize(x, qt):
    """torch's own op with the scale and zero point of the QuantizedTensor qt."""
    if qt.axis is None:
        return torch.fake_quantize_per_tensor_affine(x, qt.scale, qt.zero_point, qt.qmin, qt.qmax)
    return torch.fake_quantize_per_channel_affine(x, qt.scale, qt.zero_point, qt.axis,
                                                  qt.qmin, qt.qmax)


def values_and_grads(fq, x, w):
    """fq(x), and the gradient of sum(w * fq(x)) with respect to x."""
    x = x.clone().requires_grad_()
    y = fq(x)
    (y * w).sum().backward()
    return y.detach(), x.grad


def hard_cases(scale, zero_point, qmin, qmax):
    """Every level, every midpoint between two levels (a tie for round), and points beyond the
    ends, in units of one scale: the inputs where a rounding or clipping slip shows."""
    k = torch.arange(qmin - zero_point - 3, qmax - zero_point + 3, dtype=torch.float32)
    return torch.cat([k * scale, (k + 0.5) * scale, torch.tensor([-1e3, 1e3, 0.0])])


# --------------------------------------------------------------------------------------------
# Equality with torch's fake-quantize ops: values and gradients
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("scale", [None, 0.125, 0.0371])
def test_per_tensor_equals_torch_fake_quantize(bits, symmetric, scale):
    gen = torch.Generator().manual_seed(bits)
    qmin, qmax = qrange(bits, symmetric)
    zp = None if scale is None else (0 if symmetric else (qmin + qmax) // 3)
    x = torch.randn(500, generator=gen) * 2
    ref = quantize(x, bits, symmetric, scale=scale, zero_point=zp)  # qparams from x if None
    x = torch.cat([x, hard_cases(ref.scale, ref.zero_point, qmin, qmax)])
    x = x[torch.randperm(len(x), generator=gen)]
    w = torch.randn(len(x), generator=gen)  # a weighted sum, so that the gradient is not all 1s

    ours, our_grad = values_and_grads(
        lambda t: fake_quantize(t, bits, symmetric, scale=ref.scale, zero_point=ref.zero_point),
        x, w)
    theirs, their_grad = values_and_grads(lambda t: torch_fake_quantize(t, ref), x, w)
    assert ours.dtype == torch.float32
    assert torch.equal(ours, theirs)  # bit for bit
    assert torch.equal(our_grad, their_grad)
    # the cases bite: some entries are clipped (gradient 0), and at scale 1/8 some are ties
    assert (their_grad == 0).any() and (their_grad != 0).any()
    if scale == 0.125:
        assert ((x * 8) % 1 == 0.5).any()


def with_hard_cases(x, qt):
    """x (3-D) with each channel's hard cases appended along the next axis."""
    a = qt.axis
    other = (a + 1) % 3
    third = 3 - a - other
    rows = [hard_cases(float(qt.scale[c]), int(qt.zero_point[c]), qt.qmin, qt.qmax)
            for c in range(x.shape[a])]
    block = torch.stack(rows)[:, :, None].expand(-1, -1, x.shape[third])  # (C, L, T)
    labels = [a, other, third]
    block = block.permute([labels.index(d) for d in range(3)])
    assert torch.equal(block.select(a, 1).select(other - (other > a), 0),
                       rows[1][0].expand(x.shape[third]))  # channel 1 got its own cases
    return torch.cat([x, block], dim=other)


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_per_channel_equals_torch_fake_quantize(bits, symmetric, axis):
    gen = torch.Generator().manual_seed(10 + bits)
    x = torch.randn(4, 5, 6, generator=gen) * torch.tensor([0.1, 1.0, 3.0, 0.5, 2.0, 7.0])
    from_data = quantize(x, bits, symmetric, axis)
    assert from_data.axis == axis % 3 and from_data.scale.shape == (x.shape[axis],)

    # and a given scale per channel, narrower than the data: clipping, ties (powers of two)
    qmin, qmax = qrange(bits, symmetric)
    C = x.shape[axis]
    scale = torch.tensor([0.125, 0.0371, 0.25, 0.06, 0.5, 0.011])[:C]
    zp = torch.zeros(C, dtype=torch.int32) if symmetric else \
        torch.randint(qmin, qmax + 1, (C,), generator=gen, dtype=torch.int32)
    given_qp = quantize(x, bits, symmetric, axis, scale=scale, zero_point=zp)
    assert torch.equal(given_qp.scale, scale) and torch.equal(given_qp.zero_point, zp)

    for qt in (from_data, given_qp):
        y = with_hard_cases(x, qt)
        w = torch.randn(y.shape, generator=gen)
        ours, our_grad = values_and_grads(
            lambda t, qt=qt: fake_quantize(t, bits, symmetric, axis, scale=qt.scale,
                                           zero_point=qt.zero_point), y, w)
        theirs, their_grad = values_and_grads(lambda t, qt=qt: torch_fake_quantize(t, qt), y, w)
        assert torch.equal(ours, theirs)
        assert torch.equal(our_grad, their_grad)
        assert (their_grad == 0).any() and (their_grad != 0).any()


def test_the_rounding_is_half_to_even_and_the_tests_would_see_half_away():
    """At scale 1/4 the midpoints are exact ties: torch and we round them to the even code,
    which half-away-from-zero rounding (floor(v + 1/2) for v > 0) does not."""
    x = torch.tensor([0.125, 0.375, 0.625, -0.125, -0.375])  # 0.5, 1.5, 2.5, -0.5, -1.5 steps
    ours = fake_quantize(x, 8, True, scale=0.25)
    theirs = torch.fake_quantize_per_tensor_affine(x, 0.25, 0, -128, 127)
    assert torch.equal(ours, theirs)
    assert ours.tolist() == [0.0, 0.5, 0.5, 0.0, -0.5]  # codes 0, 2, 2, -0, -2
    half_away = torch.sign(x / 0.25) * torch.floor((x / 0.25).abs() + 0.5) * 0.25
    assert not torch.equal(ours, half_away)


def test_codes_and_dequantize_are_torch_fake_quantize():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(64, 3, generator=gen)
    for axis in (None, 1):
        qt = quantize(x, 8, False, axis)
        assert qt.q.dtype == torch.uint8 and qt.q.shape == x.shape
        assert qt.dequantize().dtype == torch.float32
        assert torch.equal(qt.dequantize(), torch_fake_quantize(x, qt))
        assert torch.equal(qt.dequantize(), fake_quantize(x, 8, False, axis))


def test_gradient_is_one_up_to_half_a_step_beyond_the_clip_range_as_in_torch():
    """torch masks the gradient on the *rounded* code: an x that rounds to the last level counts
    as inside, so the gradient is 1 half a step beyond [s(qmin - z), s(qmax - z)]."""
    s, z, qmin, qmax = 0.25, 3, 0, 15
    lo, hi = s * (qmin - z), s * (qmax - z)  # -0.75, 3.0
    x = torch.tensor([lo - 0.6 * s, lo - 0.4 * s, lo, 0.0, hi, hi + 0.4 * s, hi + 0.6 * s])
    _, ours = values_and_grads(lambda t: fake_quantize(t, 4, scale=s, zero_point=z), x, 1)
    _, theirs = values_and_grads(
        lambda t: torch.fake_quantize_per_tensor_affine(t, s, z, qmin, qmax), x, 1)
    assert ours.tolist() == theirs.tolist() == [0, 1, 1, 1, 1, 1, 0]
    assert quantize(x, 4, scale=s, zero_point=z).clip_range == (lo, hi)


def test_float64_input_keeps_its_dtype_and_equals_torch_per_tensor():
    x = torch.randn(300, dtype=torch.float64, generator=torch.Generator().manual_seed(4)) * 3
    out = fake_quantize(x, 8, scale=0.0371, zero_point=100)
    assert out.dtype == torch.float64
    assert torch.equal(out, torch.fake_quantize_per_tensor_affine(x, 0.0371, 100, 0, 255))


# --------------------------------------------------------------------------------------------
# Scale and zero point: torch.ao's observers, and hand-computed values
# --------------------------------------------------------------------------------------------

DATA = {
    "normal": torch.randn(1000, generator=torch.Generator().manual_seed(0)),
    "relu": torch.randn(1000, generator=torch.Generator().manual_seed(1)).clamp(min=0) * 3,
    "negative": -torch.rand(1000, generator=torch.Generator().manual_seed(2)) - 0.5,
    "skewed": torch.randn(1000, generator=torch.Generator().manual_seed(3)) * 0.01 + 0.7,
    "zeros": torch.zeros(10),
    "constant": torch.full((10,), -3.0),
    "tiny": torch.tensor([-1e-9, 2e-9]),
}


def observer_qparams(x, bits, symmetric, axis=None):
    qmin, qmax = qrange(bits, symmetric)
    dtype = torch.qint8 if symmetric else torch.quint8
    if axis is None:
        obs = MinMaxObserver(dtype=dtype, quant_min=qmin, quant_max=qmax,
                             qscheme=torch.per_tensor_symmetric if symmetric
                             else torch.per_tensor_affine)
    else:
        obs = PerChannelMinMaxObserver(ch_axis=axis, dtype=dtype, quant_min=qmin, quant_max=qmax,
                                       qscheme=torch.per_channel_symmetric if symmetric
                                       else torch.per_channel_affine)
    obs(x)
    return obs.calculate_qparams()


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("data", list(DATA))
def test_qparams_equal_minmax_observer(bits, symmetric, data):
    x = DATA[data]
    scale, zp = observer_qparams(x, bits, symmetric)
    ours = qparams(*calibrate_minmax(x), bits, symmetric)
    assert ours == (float(scale), int(zp))  # exactly
    qt = quantize(x, bits, symmetric)
    assert (qt.scale, qt.zero_point) == ours
    assert isinstance(qt.scale, float) and isinstance(qt.zero_point, int)


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_per_channel_qparams_equal_per_channel_observer(bits, symmetric, axis):
    gen = torch.Generator().manual_seed(axis)
    x = torch.randn(3, 4, 5, generator=gen) * torch.rand(5, generator=gen) * 4
    x[1] = x[1].abs()  # some channels all positive,
    x[:, 2] = 0.0  # some all zero (axis 1), ...
    scale, zp = observer_qparams(x, bits, symmetric, axis)
    ours_scale, ours_zp = qparams(*calibrate_minmax(x, axis), bits, symmetric)
    assert ours_scale.dtype == torch.float32 and ours_zp.dtype == torch.int32
    assert torch.equal(ours_scale, scale)
    assert torch.equal(ours_zp, zp.to(torch.int32))
    qt = quantize(x, bits, symmetric, axis)
    assert torch.equal(qt.scale, scale) and torch.equal(qt.zero_point, ours_zp)


def test_qparams_by_hand():
    assert qparams(-1.0, 2.0, 4) == (f32(3 / 15), 5)  # z = 0 - round(-1 / 0.2)
    assert qparams(0.5, 2.0, 4) == (f32(2 / 15), 0)  # [0.5, 2] is extended to [0, 2]
    assert qparams(-3.0, -1.0, 8) == (f32(3 / 255), 255)  # [-3, -1] is extended to [-3, 0]
    assert qparams(-1.0, 2.0, 4, symmetric=True) == (f32(4 / 15), 0)  # 2 max|x| / (2^b - 1)
    assert qparams(-2.0, 1.0, 8, symmetric=True) == (f32(2 / 127.5), 0)
    assert qparams(0.0, 0.0, 8) == (EPS32, 0)  # no division by zero: clamped at float32 eps
    assert qparams(0.0, 0.0, 8, symmetric=True) == (EPS32, 0)
    assert qparams(-0.3, 0.0, 2) == (f32(0.1), 3)  # all codes at or below 0: z = qmax
    s, z = qparams(torch.tensor([-1.0, 0.5]), torch.tensor([2.0, 2.0]), 4)
    assert s.tolist() == [f32(3 / 15), f32(2 / 15)] and z.tolist() == [5, 0]


def test_zeros_and_constants_quantize_without_nan():
    for x in (torch.zeros(5), torch.full((5,), 3.0), torch.full((5,), -2.0)):
        for symmetric in (False, True):
            qt = quantize(x, 8, symmetric)
            out = qt.dequantize()
            assert torch.isfinite(out).all()
            # symmetric: +max|x| sits half a step above the top level, up to float rounding
            assert ((out - x).abs() <= qt.scale / 2 + tol(x, qt.scale)).all()


# --------------------------------------------------------------------------------------------
# Counting levels, and the symmetric convention
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_affine_grid_has_2_to_the_b_levels_and_one_fewer_steps(bits):
    x = torch.linspace(-1.0, 3.0, 100_001)
    qt = quantize(x, bits)
    assert torch.equal(qt.q.unique().long(), torch.arange(2**bits))  # 256 codes for 8 bits
    levels = qt.dequantize().unique()
    assert len(levels) == 2**bits
    steps = levels.diff()
    assert len(steps) == 2**bits - 1  # 255 steps for 8 bits
    torch.testing.assert_close(steps, torch.full_like(steps, qt.scale), rtol=0, atol=1e-6)
    assert (qt.qmin, qt.qmax) == (0, 2**bits - 1)


def test_symmetric_8_bit_uses_all_256_codes_and_scale_max_over_127_5():
    """max|x| = 127.5 makes the scale exactly 1: x = ±127.5 are exact ties."""
    x = torch.linspace(-127.5, 127.5, 10_001)
    qt = quantize(x, 8, symmetric=True)
    assert qt.scale == 1.0 and qt.zero_point == 0 and (qt.qmin, qt.qmax) == (-128, 127)
    assert qt.scale != 127.5 / 127 and qt.scale != 127.5 / 128  # neither textbook choice
    assert torch.equal(qt.q.unique().long(), torch.arange(-128, 128))  # 256 levels
    assert qt.q.dtype == torch.int8
    # the ends are not levels: each comes back half a step away (-128 by ties-to-even, 127 clipped)
    ends = quantize(torch.tensor([-127.5, 127.5]), 8, True, scale=1.0).dequantize()
    assert ends.tolist() == [-128.0, 127.0]
    # ...and the whole range is within s/2 of the grid
    assert (qt.dequantize() - x).abs().max() <= qt.scale / 2


def test_narrow_symmetric_scale_can_be_passed_and_makes_the_ends_exact():
    amax = 2.0
    x = torch.linspace(-amax, amax, 10_001)
    qt = quantize(x, 8, symmetric=True, scale=amax / 127)
    assert torch.equal(qt.q.unique().long(), torch.arange(-127, 128))  # 255 levels, -128 unused
    torch.testing.assert_close(qt.dequantize()[[0, -1]], torch.tensor([-amax, amax]),
                               rtol=0, atol=1e-6)


def test_codes_use_the_smallest_integer_type():
    x = torch.randn(10)
    assert quantize(x, 8).q.dtype == torch.uint8 and quantize(x, 8).q.element_size() == 1
    assert quantize(x, 4, True).q.dtype == torch.int8
    assert quantize(x, 12).q.dtype == torch.int32
    assert qrange(16) == (0, 65535) and qrange(16, True) == (-32768, 32767)
    assert qrange(1) == (0, 1) and qrange(1, True) == (-1, 0)


# --------------------------------------------------------------------------------------------
# Laws for all inputs (hypothesis)
# --------------------------------------------------------------------------------------------

finite32 = st.floats(-1e4, 1e4, width=32, allow_nan=False, allow_infinity=False)
xs = arrays(np.float32, array_shapes(min_dims=1, max_dims=3, max_side=6), elements=finite32)
bits_st = st.integers(2, 8)


def tol(x, scale):
    """float32 slack: x * (1/s) and s * (q - z) each round once."""
    return 4 * EPS32 * (x.abs() + scale)


@settings(max_examples=150, deadline=None)
@given(x=xs, bits=bits_st, symmetric=st.booleans())
def test_error_is_at_most_half_a_step_on_the_observed_range(x, bits, symmetric):
    x = torch.from_numpy(x)
    qt = quantize(x, bits, symmetric)
    err = (qt.dequantize().double() - x.double()).abs()
    assert (err <= qt.scale / 2 + tol(x.double(), qt.scale)).all()
    assert qt.q.min() >= qt.qmin and qt.q.max() <= qt.qmax


@settings(max_examples=150, deadline=None)
@given(x=xs, bits=bits_st, symmetric=st.booleans(),
       scale=st.floats(1e-3, 10.0), zp_frac=st.floats(0, 1))
def test_given_qparams_codes_in_range_bound_inside_clip_outside(x, bits, symmetric, scale,
                                                                zp_frac):
    x = torch.from_numpy(x)
    qmin, qmax = qrange(bits, symmetric)
    zp = 0 if symmetric else qmin + round(zp_frac * (qmax - qmin))
    qt = quantize(x, bits, symmetric, scale=scale, zero_point=zp)
    assert qt.q.min() >= qmin and qt.q.max() <= qmax
    lo, hi = qt.clip_range
    xh, xd = qt.dequantize().double(), x.double()
    inside = (xd >= lo) & (xd <= hi)
    assert ((xh - xd).abs()[inside] <= qt.scale / 2 + tol(xd, qt.scale)[inside]).all()
    assert (xh[xd < lo] == f32(lo)).all() and (xh[xd > hi] == f32(hi)).all()  # clipped to the end
    # torch agrees on every such input too
    assert torch.equal(fake_quantize(x, bits, symmetric, scale=scale, zero_point=zp),
                       torch_fake_quantize(x, qt))


@settings(max_examples=150, deadline=None)
@given(x=xs, bits=bits_st, symmetric=st.booleans())
def test_zero_is_exactly_representable(x, bits, symmetric):
    x = torch.from_numpy(x)
    qt = quantize(x, bits, symmetric)
    zero = quantize(torch.zeros(3), bits, symmetric, scale=qt.scale, zero_point=qt.zero_point)
    assert torch.equal(zero.q.long(), torch.full((3,), qt.zero_point))
    assert (zero.dequantize() == 0).all()
    assert (qt.dequantize()[x == 0] == 0).all()


@settings(max_examples=150, deadline=None)
@given(x=xs, bits=bits_st, symmetric=st.booleans())
def test_requantizing_the_dequantized_values_changes_nothing(x, bits, symmetric):
    x = torch.from_numpy(x)
    qt = quantize(x, bits, symmetric)
    again = quantize(qt.dequantize(), bits, symmetric, scale=qt.scale, zero_point=qt.zero_point)
    assert torch.equal(again.q, qt.q)
    assert torch.equal(again.dequantize(), qt.dequantize())


@settings(max_examples=150, deadline=None)
@given(x=arrays(np.float32, array_shapes(min_dims=2, max_dims=3, max_side=5), elements=finite32),
       bits=bits_st, symmetric=st.booleans(), data=st.data())
def test_per_channel_error_bound_holds_channel_by_channel(x, bits, symmetric, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    x = torch.from_numpy(x)
    qt = quantize(x, bits, symmetric, axis)
    shape = [1] * x.ndim
    shape[axis] = -1
    s = qt.scale.double().reshape(shape)
    err = (qt.dequantize().double() - x.double()).abs()
    assert (err <= s / 2 + tol(x.double(), s)).all()
    # each channel's scale is the per-tensor scale of that channel alone
    for c in range(x.shape[axis]):
        alone = quantize(x.select(axis, c), bits, symmetric)
        assert (alone.scale, alone.zero_point) == (float(qt.scale[c]), int(qt.zero_point[c]))


# --------------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------------


def test_calibration_against_numpy():
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(40, 3, generator=gen)
    x[7, 1] = 100.0  # an outlier
    assert calibrate_minmax(x) == (float(x.min()), float(x.max()))
    lo, hi = calibrate_percentile(x, 99.0)
    assert lo == pytest.approx(np.percentile(x.numpy(), 1.0), rel=1e-6)
    assert hi == pytest.approx(np.percentile(x.numpy(), 99.0), rel=1e-6)
    assert hi < 100.0 and calibrate_percentile(x, 100.0) == calibrate_minmax(x)
    lo, hi = calibrate_percentile(x, 95.0, axis=1)
    np.testing.assert_allclose(hi.numpy(), np.percentile(x.numpy(), 95.0, axis=0), rtol=1e-6)
    np.testing.assert_allclose(lo.numpy(), np.percentile(x.numpy(), 5.0, axis=0), rtol=1e-6)
    mn, mx = calibrate_minmax(x, axis=1)
    assert torch.equal(mn, x.min(0).values) and torch.equal(mx, x.max(0).values)


# --------------------------------------------------------------------------------------------
# Errors at the boundary
# --------------------------------------------------------------------------------------------

X = torch.randn(3, 4)
BAD = [
    # (call, the argument the message must name)
    (lambda: quantize(X, 0), "num_bits"),
    (lambda: quantize(X, 17), "num_bits"),
    (lambda: quantize(X, 8.0), "num_bits"),
    (lambda: fake_quantize(X, True), "num_bits"),
    (lambda: qparams(0.0, 1.0, 17), "num_bits"),
    (lambda: quantize(torch.tensor([1.0, float("nan")])), "x"),
    (lambda: fake_quantize(torch.tensor([float("inf")])), "x"),
    (lambda: quantize(torch.tensor([-float("inf"), 0.0]), scale=1.0, zero_point=0), "x"),
    (lambda: quantize(torch.tensor([1, 2])), "x"),
    (lambda: quantize(torch.empty(0)), "x"),
    (lambda: calibrate_minmax(torch.tensor([float("nan")])), "x"),
    (lambda: quantize(X, axis=2), "axis"),
    (lambda: quantize(X, axis=-3), "axis"),
    (lambda: fake_quantize(X, axis=1.0), "axis"),
    (lambda: quantize(torch.tensor(1.0), axis=0), "axis"),
    (lambda: calibrate_percentile(X, 99.0, axis=5), "axis"),
    (lambda: quantize(X, scale=0.0, zero_point=0), "scale"),
    (lambda: quantize(X, scale=-0.1, zero_point=0), "scale"),
    (lambda: fake_quantize(X, scale=float("nan"), zero_point=0), "scale"),
    (lambda: quantize(X, scale=float("inf"), zero_point=0), "scale"),
    (lambda: quantize(X, scale=1e-50, zero_point=0), "scale"),  # 0 in float32
    (lambda: quantize(X, axis=1, scale=torch.tensor([1.0, 0.0, 1.0, 1.0]), zero_point=0), "scale"),
    (lambda: quantize(X, axis=1, scale=torch.ones(3), zero_point=0), "scale"),
    (lambda: quantize(X, 8, scale=0.1, zero_point=256), "zero_point"),
    (lambda: quantize(X, 8, scale=0.1, zero_point=-1), "zero_point"),
    (lambda: quantize(X, 4, scale=0.1, zero_point=16), "zero_point"),
    (lambda: quantize(X, 8, scale=0.1, zero_point=2.5), "zero_point"),
    (lambda: fake_quantize(X, 8, True, scale=0.1, zero_point=1), "zero_point"),
    (lambda: quantize(X, 8, scale=0.1), "zero_point"),  # required for affine
    (lambda: quantize(X, 8, zero_point=3), "zero_point"),  # without a scale
    (lambda: quantize(X, 4, axis=0, scale=0.1, zero_point=torch.tensor([0, 16, 2])), "zero_point"),
    (lambda: quantize(X, 4, axis=0, scale=0.1, zero_point=torch.tensor([0.5, 1, 2])), "zero_point"),
    (lambda: quantize(X, symmetric="yes"), "symmetric"),
    (lambda: qparams(2.0, 1.0), "min_val"),
    (lambda: qparams(float("nan"), 1.0), "min_val"),
    (lambda: qparams(-1.0, float("inf")), "max_val"),
    (lambda: calibrate_percentile(X, 50.0), "pct"),
    (lambda: calibrate_percentile(X, 100.5), "pct"),
]


@pytest.mark.parametrize("call, name", BAD, ids=[f"{i}-{name}" for i, (_, name) in enumerate(BAD)])
def test_bad_input_raises_a_value_error_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"^Invalid {name}\b"):
        call()


def test_error_messages_state_the_allowed_range():
    with pytest.raises(ValueError,
                       match=r"^Invalid num_bits: 17 \(must be an integer in \[1, 16\]\)$"):
        quantize(X, 17)
    with pytest.raises(ValueError, match=r"\(must be an integer in \[0, 15\] for num_bits=4\)$"):
        quantize(X, 4, scale=0.1, zero_point=16)
    with pytest.raises(ValueError, match=r"\(must be 0 when symmetric=True\)$"):
        quantize(X, 4, True, scale=0.1, zero_point=1)
    with pytest.raises(ValueError, match=r"must be None or an integer in \[-2, 1\] for a 2-D x"):
        quantize(X, axis=2)
    with pytest.raises(ValueError, match=r"^Invalid scale: 0 \(must be > 0\)$"):
        quantize(X, scale=0.0, zero_point=0)


# --------------------------------------------------------------------------------------------
# The module
# --------------------------------------------------------------------------------------------


def test_quantized_tensor_fields():
    qt = quantize(X, 4, True, axis=1)
    assert isinstance(qt, QuantizedTensor)
    assert (qt.num_bits, qt.symmetric, qt.axis, qt.qmin, qt.qmax) == (4, True, 1, -8, 7)
    assert qt.scale.shape == qt.zero_point.shape == (4,)
    with pytest.raises(AttributeError):
        qt.num_bits = 8  # frozen


def test_doctests_pass():
    result = doctest.testmod(quant, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_import_does_not_load_torch():
    code = "import sys, dlopt_lab.quant; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
