"""Preprocessing: scalers against scikit-learn, stratified splits, image augmentation against
torch.rot90 / torch.roll / closed forms, and the statistics of the noise."""

import doctest
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.preprocessing import MinMaxScaler as SkMinMaxScaler
from sklearn.preprocessing import StandardScaler

import dlopt_lab.preprocessing as pre
from dlopt_lab.preprocessing import (
    MinMaxScaler,
    Standardizer,
    add_noise,
    augment,
    random_rotation,
    random_shift,
    rotate_images,
    shift_images,
    stratified_split,
)

TIGHT = {"rtol": 1e-12, "atol": 1e-12}


@pytest.fixture(scope="module")
def data():
    """Training and new data on very different scales, with one constant feature."""
    rng = np.random.default_rng(0)
    scales = np.array([1e-3, 1.0, 50.0, 1.0])
    X_train = rng.standard_normal((200, 4)) * scales + np.array([5.0, -1.0, 100.0, 0.0])
    X_train[:, 3] = 7.25  # constant in training
    X_new = rng.standard_normal((50, 4)) * scales * 3
    return X_train, X_new


# --------------------------------------------------------------------------------------------
# Standardizer
# --------------------------------------------------------------------------------------------


def test_standardizer_equals_sklearn_standard_scaler(data):
    X_train, X_new = data
    ours, sk = Standardizer().fit(X_train), StandardScaler().fit(X_train)
    np.testing.assert_allclose(ours.mean, sk.mean_, **TIGHT)
    np.testing.assert_allclose(ours.scale, sk.scale_, **TIGHT)
    np.testing.assert_allclose(ours.std[:3], np.sqrt(sk.var_[:3]), **TIGHT)
    assert ours.std[3] == 0.0 and ours.scale[3] == 1.0
    for X in (X_train, X_new):
        np.testing.assert_allclose(ours.transform(X), sk.transform(X), **TIGHT)
    Z = sk.transform(X_new)
    np.testing.assert_allclose(ours.inverse_transform(Z), sk.inverse_transform(Z), **TIGHT)
    np.testing.assert_allclose(Standardizer().fit_transform(X_train), sk.transform(X_train),
                               **TIGHT)


def test_standardizer_constant_feature_maps_to_zero_on_training_data(data):
    X_train, X_new = data
    s = Standardizer().fit(X_train)
    assert np.all(s.transform(X_train)[:, 3] == 0.0)
    np.testing.assert_allclose(s.transform(X_new)[:, 3], X_new[:, 3] - 7.25, **TIGHT)  # x - mu


def test_standardizer_on_torch_tensors_equals_numpy(data):
    X_train, X_new = data
    s_np = Standardizer().fit(X_train)
    s_t = Standardizer().fit(torch.from_numpy(X_train))
    z = s_t.transform(torch.from_numpy(X_new))
    assert isinstance(z, torch.Tensor) and z.dtype == torch.float64
    np.testing.assert_allclose(z.numpy(), s_np.transform(X_new), **TIGHT)
    np.testing.assert_allclose(s_t.inverse_transform(z).numpy(), X_new, rtol=1e-12, atol=1e-9)
    z32 = Standardizer().fit_transform(torch.from_numpy(X_train).float())
    assert z32.dtype == torch.float32
    # torch's own Tensor.std divides by n - 1: the scaler must not use it
    t = torch.tensor([[0.0], [2.0]])
    assert float(Standardizer().fit(t).std[0]) == 1.0 and float(t.std(0)[0]) == pytest.approx(
        math.sqrt(2))


def test_standardizer_accepts_uint8_images():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(30, 1, 4, 4), dtype=np.uint8)
    z = Standardizer().fit_transform(images)
    assert z.dtype == np.float64 and z.shape == images.shape
    ref = StandardScaler().fit_transform(images.reshape(30, -1).astype(float))
    np.testing.assert_allclose(z.reshape(30, -1), ref, **TIGHT)
    zt = Standardizer().fit_transform(torch.from_numpy(images))
    assert zt.dtype == torch.float32  # torch's default float dtype


_columns = hnp.arrays(
    np.float64,
    st.tuples(st.integers(2, 40), st.integers(1, 3)),
    elements=st.floats(-1e3, 1e3, allow_nan=False, width=64),
)


@settings(max_examples=60, deadline=None)
@given(_columns)
def test_z_scores_have_mean_0_variance_1_and_are_not_bounded_by_1(X):
    spread = X.max(0) - X.min(0)
    assume(np.all(spread > 1e-6 * (1 + np.abs(X).max(0))))  # clearly non-constant columns
    z = Standardizer().fit_transform(X)
    n = len(X)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-9)
    np.testing.assert_allclose(z.var(0), 1.0, rtol=1e-9)
    # mean z^2 = 1 forces some |z| >= 1; Samuelson's inequality bounds |z| by sqrt(n - 1)
    assert np.all(np.abs(z).max(0) >= 1 - 1e-9)
    assert np.all(np.abs(z).max(0) <= math.sqrt(n - 1) * (1 + 1e-9))


@pytest.mark.parametrize("n", [2, 10, 1000])
def test_one_outlier_reaches_samuelsons_bound(n):
    x = np.zeros((n, 1))
    x[-1] = 1.0
    z = Standardizer().fit_transform(x)
    assert z[-1, 0] == pytest.approx(math.sqrt(n - 1), rel=1e-12)


def test_heavy_tailed_sample_has_z_scores_far_above_1():
    x = np.random.default_rng(0).standard_t(df=2, size=(1000, 1))
    z = Standardizer().fit_transform(x)
    assert z.max() > 5  # z-scores are not confined to [-1, 1]


# --------------------------------------------------------------------------------------------
# MinMaxScaler
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("feature_range", [(0.0, 1.0), (-1.0, 2.0)])
def test_minmax_equals_sklearn(data, feature_range):
    X_train, X_new = data
    ours = MinMaxScaler(feature_range).fit(X_train)
    sk = SkMinMaxScaler(feature_range=feature_range).fit(X_train)
    np.testing.assert_allclose(ours.data_min, sk.data_min_, **TIGHT)
    np.testing.assert_allclose(ours.data_max, sk.data_max_, **TIGHT)
    for X in (X_train, X_new):
        np.testing.assert_allclose(ours.transform(X), sk.transform(X), **TIGHT)
    Y = sk.transform(X_new)
    np.testing.assert_allclose(ours.inverse_transform(Y), sk.inverse_transform(Y), **TIGHT)
    assert np.all(ours.transform(X_train)[:, 3] == feature_range[0])  # constant -> a
    yt = MinMaxScaler(feature_range).fit_transform(torch.from_numpy(X_train))
    np.testing.assert_allclose(yt.numpy(), sk.transform(X_train), **TIGHT)


@settings(max_examples=60, deadline=None)
@given(_columns)
def test_minmax_lies_in_0_1_on_the_fitted_data_only(X):
    scaler = MinMaxScaler().fit(X)
    y = scaler.transform(X)
    assert y.min() >= 0.0 and y.max() <= 1.0
    varies = X.max(0) > X.min(0)
    assert np.all(y.max(0)[varies] == 1.0) and np.all(y.min(0) == 0.0)
    beyond = X.max(0, keepdims=True) + 1.0  # above the training maximum
    assert np.all(scaler.transform(beyond)[0, varies] > 1.0)


# --------------------------------------------------------------------------------------------
# Scalers: bad input
# --------------------------------------------------------------------------------------------


def test_scaler_errors():
    for scaler in (Standardizer(), MinMaxScaler()):
        with pytest.raises(RuntimeError, match="not fitted yet"):
            scaler.transform(np.zeros((2, 2)))
        with pytest.raises(ValueError, match=r"^X must have shape \(n_samples, n_features\)"):
            scaler.fit(np.arange(3.0))
        with pytest.raises(ValueError, match=r"^X must have shape"):
            scaler.fit(np.zeros((0, 2)))
        scaler.fit(np.eye(3))
        with pytest.raises(ValueError, match=r"^X must have feature shape \(3,\)"):
            scaler.transform(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"^Invalid feature_range\[1\]: 0 \(must be > 1\)"):
        MinMaxScaler((1.0, 0.0))
    with pytest.raises(ValueError, match="^feature_range must be a pair"):
        MinMaxScaler((0.0, 1.0, 2.0))


# --------------------------------------------------------------------------------------------
# stratified_split
# --------------------------------------------------------------------------------------------


@st.composite
def _labels_and_fractions(draw):
    y = draw(st.lists(st.integers(0, 4), min_size=1, max_size=150))
    weights = draw(st.lists(st.floats(0.05, 1.0), min_size=1, max_size=4))
    return np.array(y), [w / sum(weights) for w in weights]


@settings(max_examples=80, deadline=None)
@given(_labels_and_fractions(), st.integers(0, 2**32 - 1))
def test_stratified_split_partitions_and_keeps_class_proportions(case, seed):
    y, fractions = case
    parts = stratified_split(y, fractions, seed=seed)
    assert len(parts) == len(fractions)
    everything = np.concatenate(parts)
    assert np.array_equal(np.sort(everything), np.arange(len(y)))  # disjoint and covering
    for part, f in zip(parts, fractions):
        assert part.dtype == np.int64 and np.all(np.diff(part) > 0)
        for c in np.unique(y):
            n_c = np.sum(y == c)
            assert abs(np.sum(y[part] == c) - f * n_c) <= 1 + 1e-9  # within one example


def test_stratified_split_on_digits_labels_is_seeded():
    y = np.repeat(np.arange(10), 180)[np.random.default_rng(0).permutation(1800)]
    a = stratified_split(y, (0.6, 0.2, 0.2), seed=3)
    b = stratified_split(y, (0.6, 0.2, 0.2), seed=3)
    c = stratified_split(y, (0.6, 0.2, 0.2), seed=4)
    assert [len(p) for p in a] == [1080, 360, 360]
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    assert all(np.all(np.bincount(y[p]) == len(p) // 10) for p in a)  # exactly 10% per class


@pytest.mark.parametrize(
    "fractions, match",
    [((0.6, 0.2, 0.1), r"^Invalid fractions: .* \(must be positive and sum to 1\)"),
     ((0.6, 0.5, -0.1), r"^Invalid fractions\[2\]: -0.1 \(must be > 0\)"),
     ((1.0, 0.0), r"^Invalid fractions\[1\]: 0 \(must be > 0\)"),
     ((), r"^Invalid fractions")],
)
def test_stratified_split_rejects_bad_fractions(fractions, match):
    with pytest.raises(ValueError, match=match):
        stratified_split(np.zeros(10, dtype=int), fractions)


def test_stratified_split_rejects_2d_labels():
    with pytest.raises(ValueError, match="^y must be a 1-D array"):
        stratified_split(np.zeros((5, 2)))


# --------------------------------------------------------------------------------------------
# Augmentation: the deterministic transforms
# --------------------------------------------------------------------------------------------


def _asymmetric(H=5, W=5, dtype=torch.float64):
    """An L-shaped, clearly asymmetric pattern with distinct values, zero border."""
    x = torch.zeros(1, 1, H, W, dtype=dtype)
    x[0, 0, 1, 1], x[0, 0, 2, 1], x[0, 0, 3, 1], x[0, 0, 3, 2] = 1.0, 2.0, 3.0, 4.0
    return x


def _centre_of_mass(x):
    """(row, col) centre of mass of each image, shape (N, 2)."""
    H, W = x.shape[-2:]
    rows = torch.arange(H, dtype=x.dtype)[:, None]
    cols = torch.arange(W, dtype=x.dtype)[None, :]
    mass = x.sum(dim=(1, 2, 3))
    return torch.stack([(x * rows).sum(dim=(1, 2, 3)) / mass,
                        (x * cols).sum(dim=(1, 2, 3)) / mass], dim=1)


def test_rotate_90_equals_torch_rot90_counter_clockwise():
    x = torch.rand(4, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(rotate_images(x, 90.0), torch.rot90(x, 1, dims=(2, 3)),
                               rtol=0, atol=1e-6)
    torch.testing.assert_close(rotate_images(x, -90.0), torch.rot90(x, -1, dims=(2, 3)),
                               rtol=0, atol=1e-6)
    torch.testing.assert_close(rotate_images(x, 180.0), torch.rot90(x, 2, dims=(2, 3)),
                               rtol=0, atol=1e-6)
    # the same direction as numpy.rot90, which turns a displayed array counter-clockwise
    np.testing.assert_allclose(rotate_images(x, 90.0)[0, 0].numpy(), np.rot90(x[0, 0].numpy()),
                               atol=1e-6)


def test_rotate_90_moves_known_pixels_counter_clockwise():
    x = _asymmetric()
    out = rotate_images(x, 90.0)[0, 0]
    expected = torch.zeros(5, 5, dtype=torch.float64)
    # (r, c) -> (W - 1 - c, r): the vertical bar of the L becomes a horizontal one at row 3,
    # its foot (3, 2) goes up to (2, 3)
    expected[3, 1], expected[3, 2], expected[3, 3], expected[2, 3] = 1.0, 2.0, 3.0, 4.0
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)


def test_rotation_of_non_square_images_is_rigid():
    x = torch.zeros(1, 1, 9, 13)
    x[0, 0, 4, 8] = 1.0  # two pixels right of the centre (4, 6)
    out = rotate_images(x, 90.0)[0, 0]
    assert out[2, 6] == pytest.approx(1.0, abs=1e-5)  # two pixels above it
    assert out.sum() == pytest.approx(1.0, abs=1e-5)
    y = torch.rand(2, 3, 6, 10, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(rotate_images(y, 180.0), torch.flip(y, (2, 3)), rtol=0, atol=1e-5)


def test_zero_rotation_and_zero_shift_are_the_identity():
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(rotate_images(x, 0.0), x, rtol=0, atol=1e-6)
    assert torch.equal(shift_images(x, 0, 0), x)
    gen = torch.Generator().manual_seed(0)
    torch.testing.assert_close(random_rotation(x, 0.0, gen), x, rtol=0, atol=1e-6)
    assert torch.equal(random_shift(x, 0, gen), x)
    assert torch.equal(add_noise(x, 0.0, gen, clip=None), x)


@pytest.mark.parametrize("dy, dx", [(1, 0), (0, -1), (2, 1), (-1, -2)])
def test_shift_moves_the_centre_of_mass_by_the_shift(dy, dx):
    x = torch.zeros(1, 1, 9, 9, dtype=torch.float64)
    x[0, 0, 3:6, 3:6] = torch.rand(3, 3, dtype=torch.float64,
                                   generator=torch.Generator().manual_seed(0))
    out = shift_images(x, dy, dx)
    assert out.sum() == pytest.approx(float(x.sum()))  # no pixel fell off
    torch.testing.assert_close(_centre_of_mass(out) - _centre_of_mass(x),
                               torch.tensor([[dy, dx]], dtype=torch.float64))
    # with an empty border a shift is a roll
    assert torch.equal(out, torch.roll(x, (dy, dx), dims=(2, 3)))


def test_shift_fills_with_zeros_instead_of_wrapping():
    x = torch.arange(1, 10, dtype=torch.uint8).reshape(1, 1, 3, 3)
    out = shift_images(x, 1, -1)
    assert out.dtype == torch.uint8
    assert out[0, 0].tolist() == [[0, 0, 0], [2, 3, 0], [5, 6, 0]]


def test_shift_per_image():
    x = _asymmetric(7, 7).repeat(3, 1, 1, 1)
    dy, dx = torch.tensor([0, 1, -1]), torch.tensor([1, 0, -1])
    out = shift_images(x, dy, dx)
    for i in range(3):
        assert torch.equal(out[i], torch.roll(x[i], (int(dy[i]), int(dx[i])), dims=(1, 2)))


# --------------------------------------------------------------------------------------------
# Augmentation: the random transforms
# --------------------------------------------------------------------------------------------


def test_random_shift_draws_every_offset_per_image():
    m = 1
    x = torch.zeros(900, 1, 7, 7)
    x[:, 0, 3, 3] = 1.0  # one dot in the middle: its new place is the shift
    out = random_shift(x, m, torch.Generator().manual_seed(0))
    assert torch.equal(out.sum(dim=(1, 2, 3)), torch.ones(900))  # nothing fell off
    shifts = (_centre_of_mass(out) - 3).round().long()
    assert shifts.abs().max() <= m
    counts = torch.bincount((shifts[:, 0] + m) * (2 * m + 1) + shifts[:, 1] + m)
    assert len(counts) == 9 and counts.min() > 50  # all 9 offsets, each about 100 times


def test_random_rotation_angles_lie_in_range():
    d = 20.0
    x = torch.zeros(500, 1, 15, 15, dtype=torch.float64)
    x[:, 0, 7, 12] = 1.0  # five pixels right of the centre: angle 0
    out = random_rotation(x, d, torch.Generator().manual_seed(0))
    com = _centre_of_mass(out) - 7
    angles = torch.rad2deg(torch.atan2(-com[:, 0], com[:, 1]))  # rows point down: -row is up
    assert angles.abs().max() <= d + 1.0  # bilinear blur moves the centre of mass a little
    assert angles.min() < -0.8 * d and angles.max() > 0.8 * d  # and they do spread over it


@pytest.mark.parametrize("fn", [
    lambda x, g: random_shift(x, 2, g),
    lambda x, g: random_rotation(x, 15.0, g),
    lambda x, g: add_noise(x, 0.1, g),
    lambda x, g: augment(x, generator=g),
])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_random_transforms_keep_shape_dtype_and_are_reproducible(fn, dtype):
    x = torch.rand(8, 1, 8, 8, dtype=dtype, generator=torch.Generator().manual_seed(5))
    a = fn(x, torch.Generator().manual_seed(0))
    b = fn(x, torch.Generator().manual_seed(0))
    c = fn(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and a.dtype == dtype
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_noise_has_the_requested_standard_deviation():
    n, std = 200_000, 0.3
    x = torch.full((n // 64, 1, 8, 8), 0.5, dtype=torch.float64)
    noise = (add_noise(x, std, torch.Generator().manual_seed(0), clip=None) - x).flatten()
    # sample mean ~ N(0, std^2/n); sample std ~ N(std, std^2/(2n)): allow 5 standard errors
    assert abs(float(noise.mean())) < 5 * std / math.sqrt(n)
    assert abs(float(noise.std()) - std) < 5 * std / math.sqrt(2 * n)


def test_noise_is_clipped_to_the_pixel_range():
    x = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    out = add_noise(x, 0.5, torch.Generator().manual_seed(1))
    assert out.min() == 0.0 and out.max() == 1.0  # clipped, and the clip is reached
    out = add_noise(x, 0.5, torch.Generator().manual_seed(1), clip=(-1.0, 2.0))
    assert out.min() >= -1.0 and out.max() <= 2.0


def test_augment_composes_the_three():
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    out = augment(x, max_shift=1, max_degrees=10.0, noise_std=0.05,
                  generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(0)
    expected = add_noise(random_shift(random_rotation(x, 10.0, gen), 1, gen), 0.05, gen)
    assert torch.equal(out, expected)
    assert out.min() >= 0 and out.max() <= 1
    plain = augment(x, max_shift=0, max_degrees=0.0, noise_std=0.0)
    torch.testing.assert_close(plain, x, rtol=0, atol=1e-6)


@pytest.mark.parametrize("call, match", [
    (lambda x: random_shift(x, -1), r"^Invalid max_shift: -1 \(must be an integer >= 0\)"),
    (lambda x: random_shift(x, 1.5), r"^Invalid max_shift: 1.5"),
    (lambda x: random_shift(x[0], 1), r"^x must be a batch of images of shape \(N, C, H, W\)"),
    (lambda x: random_rotation(x, -5.0), r"^Invalid max_degrees: -5 \(must be in \[0, 180\]\)"),
    (lambda x: random_rotation(x, 200.0), r"^Invalid max_degrees: 200"),
    (lambda x: rotate_images(x.to(torch.uint8), 10.0), r"^x must be a floating-point tensor"),
    (lambda x: rotate_images(x.flatten(1), 10.0), r"^x must be a batch of images"),
    (lambda x: add_noise(x, -0.1), r"^Invalid std: -0.1 \(must be >= 0\)"),
    (lambda x: add_noise(x, 0.1, clip=(1.0, 0.0)), r"^Invalid clip"),
    (lambda x: augment(x, noise_std=-1.0), r"^Invalid std"),
])
def test_augmentation_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call(torch.rand(2, 1, 4, 4))


# --------------------------------------------------------------------------------------------
# The module
# --------------------------------------------------------------------------------------------


def test_doctests_pass():
    result = doctest.testmod(pre, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_import_does_not_load_torch():
    code = "import sys, dlopt_lab.preprocessing; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
