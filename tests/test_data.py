"""Data: the digits splits, synthetic sets with known truth, and the IDX format byte by byte."""

import functools
import gzip
import http.server
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.datasets import load_digits as sk_load_digits

from dlopt_lab.data import (
    DigitsData,
    digits_loaders,
    load_digits,
    load_idx_dataset,
    make_classification,
    make_regression,
    read_idx,
    write_idx,
)

# --------------------------------------------------------------------------------------------
# Digits
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sk_digits():
    return sk_load_digits(return_X_y=True)


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def _indices(X_split: np.ndarray, X_full: np.ndarray) -> np.ndarray:
    """Row numbers in scikit-learn's digits of the rows of a split (the digits rows are unique)."""
    where = {row.tobytes(): i for i, row in enumerate(X_full)}
    assert len(where) == len(X_full)
    return np.array([where[row.tobytes()] for row in X_split])


def test_digits_split_is_a_stratified_partition(sk_digits):
    X, y = sk_digits
    d = load_digits(0.2, 0.2, seed=0, as_tensors=False)
    splits = [(d.X_train, d.y_train), (d.X_val, d.y_val), (d.X_test, d.y_test)]
    assert [len(ys) for _, ys in splits] == [1077, 360, 360]
    idx = [_indices(Xs * 16.0, X) for Xs, _ in splits]
    everything = np.concatenate(idx)
    assert len(everything) == 1797 and len(np.unique(everything)) == 1797  # disjoint, complete
    share = np.bincount(y) / len(y)
    for (Xs, ys), ix in zip(splits, idx):
        np.testing.assert_array_equal(ys, y[ix])  # each image keeps its own label
        np.testing.assert_array_equal(Xs, X[ix] / 16.0)
        counts = np.bincount(ys, minlength=10)
        assert np.all(np.abs(counts - share * len(ys)) <= 1.0), counts


def test_digits_split_depends_on_the_seed_alone(sk_digits):
    X, _ = sk_digits
    a = load_digits(seed=0, as_tensors=False)
    b = load_digits(seed=0, as_tensors=False)
    c = load_digits(seed=1, as_tensors=False)
    for name in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    test_a, test_c = set(_indices(a.X_test * 16, X)), set(_indices(c.X_test * 16, X))
    assert test_a != test_c
    d = load_digits(val_fraction=0.1, test_fraction=0.3, seed=0, as_tensors=False)
    sizes = np.array([len(d.y_train), len(d.y_val), len(d.y_test)])
    assert sizes.sum() == 1797
    assert np.all(np.abs(sizes - np.array([0.6, 0.1, 0.3]) * 1797) <= 2), sizes  # two roundings


def test_digits_tensors(digits):
    assert isinstance(digits, DigitsData)
    for X, y in [(digits.X_train, digits.y_train), (digits.X_val, digits.y_val),
                 (digits.X_test, digits.y_test)]:
        assert X.dtype == torch.float32 and y.dtype == torch.int64
        assert X.shape == (len(y), 64)
        assert float(X.min()) == 0.0 and float(X.max()) == 1.0
        assert set(y.unique().tolist()) == set(range(10))
    assert digits.num_features == 64 and digits.num_classes == 10
    assert repr(digits) == "DigitsData(train=1077, val=360, test=360, x_shape=(64,))"
    images = load_digits(flatten=False)
    assert images.X_train.shape == (1077, 1, 8, 8) and images.num_features == 64
    torch.testing.assert_close(images.X_test.reshape(-1, 64), digits.X_test, rtol=0, atol=0)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"val_fraction": 0}, "val_fraction"),
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"val_fraction": "0.2"}, "val_fraction"),
        ({"val_fraction": True}, "val_fraction"),
        ({"test_fraction": -0.1}, "test_fraction"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "val_fraction \\+ test_fraction"),
    ],
)
def test_digits_bad_fractions(kwargs, argument):
    with pytest.raises(ValueError, match=rf"^{argument}\b"):
        load_digits(**kwargs)


def test_digits_loaders_batches_and_shuffling(digits):
    loaders = digits_loaders(batch_size=100, data=digits, seed=0)
    assert set(loaders) == {"train", "val", "test"}
    train = list(loaders["train"])
    assert [len(yb) for _, yb in train] == [100] * 10 + [77]
    X_train = torch.cat([xb for xb, _ in train])
    y_train = torch.cat([yb for _, yb in train])
    assert not torch.equal(X_train, digits.X_train)  # shuffled ...
    order = torch.tensor(_indices(X_train.numpy(), digits.X_train.numpy()))
    assert sorted(order.tolist()) == list(range(1077))  # ... a permutation of the train set
    assert torch.equal(y_train, digits.y_train[order])
    # the same seed gives the same batches; another seed other batches
    def train_images(seed):
        return torch.cat([xb for xb, _ in digits_loaders(100, data=digits, seed=seed)["train"]])

    again, other = train_images(0), train_images(1)
    assert torch.equal(again, X_train) and not torch.equal(other, X_train)
    for split, X, y in [("val", digits.X_val, digits.y_val),
                        ("test", digits.X_test, digits.y_test)]:
        batches = list(loaders[split])
        assert [len(yb) for _, yb in batches] == [100, 100, 100, 60]
        assert torch.equal(torch.cat([xb for xb, _ in batches]), X)  # in order: not shuffled
        assert torch.equal(torch.cat([yb for _, yb in batches]), y)


def test_digits_loaders_default_data_and_bad_batch_size():
    loaders = digits_loaders(batch_size=512)
    xb, yb = next(iter(loaders["test"]))
    assert xb.shape == (360, 64) and yb.dtype == torch.int64
    for bad in (0, -1, 2.5, True, "64"):
        with pytest.raises(ValueError, match=r"^batch_size\b"):
            digits_loaders(batch_size=bad)


# --------------------------------------------------------------------------------------------
# Synthetic sets
# --------------------------------------------------------------------------------------------


def _lstsq(X, y):
    A = np.column_stack([X, np.ones(len(X))])
    return np.linalg.lstsq(A, y, rcond=None)[0]


def test_make_regression_noiseless_recovers_the_truth():
    X, y, w = make_regression(50, 4, noise=0.0, seed=3)
    assert X.shape == (50, 4) and y.shape == (50,) and w.shape == (5,)
    assert X.dtype == y.dtype == w.dtype == np.float64
    np.testing.assert_allclose(_lstsq(X, y), w, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(X @ w[:-1] + w[-1], y, rtol=1e-12, atol=1e-12)


def test_make_regression_with_noise_and_scales():
    n, noise = 5000, 0.3
    X, y, w = make_regression(n, 3, noise=noise, scales=[0.01, 1.0, 50.0], seed=1)
    np.testing.assert_allclose(X.std(axis=0), [0.01, 1.0, 50.0], rtol=0.05)
    residual = y - (X @ w[:-1] + w[-1])
    assert residual.std() == pytest.approx(noise, rel=0.05)
    assert abs(residual.mean()) < 5 * noise / np.sqrt(n)
    w_hat = _lstsq(X, y)
    se = noise / (np.sqrt(n) * np.array([0.01, 1.0, 50.0, 1.0]))  # standard errors, roughly
    assert np.all(np.abs(w_hat - w) < 5 * se)
    X2, y2, w2 = make_regression(n, 3, noise=noise, scales=[0.01, 1.0, 50.0], seed=1)
    assert np.array_equal(X, X2) and np.array_equal(y, y2) and np.array_equal(w, w2)
    assert not np.array_equal(w, make_regression(n, 3, seed=2)[2])


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"n_samples": 1}, "n_samples"),
        ({"n_samples": 10.0}, "n_samples"),
        ({"n_features": 0}, "n_features"),
        ({"noise": -0.1}, "noise"),
        ({"scales": [1.0]}, "scales"),
        ({"scales": [1.0, 0.0]}, "scales"),
    ],
)
def test_make_regression_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=rf"^{argument}\b"):
        make_regression(**kwargs)


@pytest.mark.parametrize("n, k, d", [(300, 2, 2), (301, 3, 5), (1000, 5, 2)])
def test_make_classification_balanced_blobs(n, k, d):
    X, y = make_classification(n, k, n_features=d, spread=0.2, seed=0)
    assert X.shape == (n, d) and y.shape == (n,)
    assert X.dtype == np.float64 and y.dtype == np.int64
    counts = np.bincount(y)
    assert len(counts) == k and counts.max() - counts.min() <= 1 and counts.sum() == n
    assert not np.array_equal(y, np.sort(y))  # shuffled, not grouped by class
    angles = 2 * np.pi * np.arange(k) / k
    centres = np.zeros((k, d))
    centres[:, 0], centres[:, 1] = 2 * np.cos(angles), 2 * np.sin(angles)
    for c in range(k):
        np.testing.assert_allclose(X[y == c].mean(axis=0), centres[c], atol=0.1)
        np.testing.assert_allclose(X[y == c].std(axis=0), 0.2, rtol=0.3)
    X2, y2 = make_classification(n, k, n_features=d, spread=0.2, seed=0)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)


@pytest.mark.parametrize(
    "kwargs, argument",
    [({"n_classes": 1}, "n_classes"), ({"n_features": 1}, "n_features"),
     ({"spread": 0}, "spread"), ({"n_samples": True}, "n_samples")],
)
def test_make_classification_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=rf"^{argument}\b"):
        make_classification(**kwargs)


# --------------------------------------------------------------------------------------------
# IDX
# --------------------------------------------------------------------------------------------

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@pytest.mark.parametrize("dtype", IDX_DTYPES)
@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 5)])
def test_idx_round_trip(tmp_path, dtype, suffix, shape):
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        arr = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
        arr.flat[0], arr.flat[-1] = info.min, info.max
    else:
        arr = (rng.standard_normal(shape) * 1e3).astype(dtype)
        arr.flat[0] = np.finfo(dtype).tiny
    path = write_idx(tmp_path / f"a.idx{suffix}", arr)
    assert path == tmp_path / f"a.idx{suffix}" and path.exists()
    back = read_idx(str(path))
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative and back.shape == shape
    np.testing.assert_array_equal(back, arr)
    raw = path.read_bytes()
    if suffix:
        assert raw[:2] == b"\x1f\x8b"  # really gzipped
        raw = gzip.decompress(raw)
    assert len(raw) == 4 + 4 * len(shape) + arr.nbytes


@settings(max_examples=60, deadline=None)
@given(
    arr=hnp.arrays(
        dtype=st.sampled_from(IDX_DTYPES).map(np.dtype)
        | st.sampled_from([">i2", ">i4", ">f4", ">f8"]).map(np.dtype),
        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
    ),
    gz=st.booleans(),
)
def test_idx_round_trip_is_exact_for_any_array(arr, gz):
    with tempfile.TemporaryDirectory() as folder:
        back = read_idx(write_idx(Path(folder) / ("a.idx.gz" if gz else "a.idx"), arr))
    assert back.shape == arr.shape and back.dtype == arr.dtype.newbyteorder("=")
    assert back.tobytes() == arr.astype(arr.dtype.newbyteorder("=")).tobytes()  # bit for bit


def test_idx_bytes_follow_the_spec(tmp_path):
    arr = np.array([[1, 2, 3], [4, 5, 255]], dtype=np.uint8)
    expected = bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 255])
    assert write_idx(tmp_path / "u8.idx", arr).read_bytes() == expected
    assert gzip.decompress(write_idx(tmp_path / "u8.idx.gz", arr).read_bytes()) == expected
    # multi-byte types are big-endian, whatever the array's byte order
    i16 = bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0x01, 0x02, 0xFF, 0xFE])  # [258, -2]
    assert write_idx(tmp_path / "i16.idx", np.array([258, -2], dtype="<i2")).read_bytes() == i16
    assert write_idx(tmp_path / "i16b.idx", np.array([258, -2], dtype=">i2")).read_bytes() == i16
    f64 = bytes([0, 0, 0x0E, 1, 0, 0, 0, 1, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0])  # [1.0]
    assert write_idx(tmp_path / "f64.idx", np.array([1.0])).read_bytes() == f64
    # and reading a hand-built file
    (tmp_path / "hand.idx").write_bytes(bytes([0, 0, 0x0C, 2, 0, 0, 0, 1, 0, 0, 0, 2,
                                               0, 0, 1, 0, 0xFF, 0xFF, 0xFF, 0xFF]))
    np.testing.assert_array_equal(read_idx(tmp_path / "hand.idx"), np.array([[256, -1]]))


@pytest.mark.parametrize(
    "raw, match",
    [
        (bytes([1, 0, 8, 1, 0, 0, 0, 1, 7]), "bad magic"),
        (bytes([0, 0]), "bad magic"),
        (bytes([0, 0, 0x0A, 1, 0, 0, 0, 1, 7]), "unknown IDX type code 0x0a"),
        (bytes([0, 0, 8, 3, 0, 0, 0, 1, 0, 0]), "truncated IDX header"),
        (bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 7]), "2 bytes, the header announces 3"),
        (bytes([0, 0, 8, 1, 0, 0, 0, 1, 7, 7]), "2 bytes, the header announces 1"),
        (bytes([0, 0, 0x0C, 1, 0, 0, 0, 1, 0, 0, 0]), "3 bytes, the header announces 4"),
    ],
)
def test_idx_corrupted_files_are_rejected(tmp_path, raw, match):
    (tmp_path / "bad.idx").write_bytes(raw)
    with pytest.raises(ValueError, match=match):
        read_idx(tmp_path / "bad.idx")
    (tmp_path / "bad.idx.gz").write_bytes(gzip.compress(raw))
    with pytest.raises(ValueError, match=match):
        read_idx(tmp_path / "bad.idx.gz")


@pytest.mark.parametrize("arr", [np.zeros(3, dtype=np.int64), np.zeros(3, dtype=bool),
                                 np.array(5, dtype=np.uint8), np.array(["a"])])
def test_write_idx_rejects_unsupported_arrays(tmp_path, arr):
    with pytest.raises(ValueError, match="dtype|dimensions"):
        write_idx(tmp_path / "x.idx", arr)


NAMES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def _write_mnist(folder, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in [("train", 12), ("test", 5)]:
        images = rng.integers(0, 256, size=(n, 6, 4), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        write_idx(folder / NAMES[split][0], images)
        write_idx(folder / NAMES[split][1], labels)
        arrays[split] = (images, labels)
    return arrays


def test_load_idx_dataset_from_local_files(tmp_path):
    arrays = _write_mnist(tmp_path)
    for split in ("train", "test"):
        images, labels = load_idx_dataset(tmp_path, split)
        assert images.dtype == labels.dtype == np.uint8
        np.testing.assert_array_equal(images, arrays[split][0])
        np.testing.assert_array_equal(labels, arrays[split][1])
    with pytest.raises(ValueError, match=r"^split\b.*'validation'"):
        load_idx_dataset(tmp_path, "validation")
    # custom names, and a labels file that does not match the images
    write_idx(tmp_path / "imgs.idx", np.zeros((3, 2, 2), dtype=np.uint8))
    write_idx(tmp_path / "labs.idx", np.zeros(4, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"\(3, 2, 2\) and \(4,\)"):
        load_idx_dataset(tmp_path, "x", files={"x": ("imgs.idx", "labs.idx")})


def test_load_idx_dataset_missing_files_need_download_true(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True") as info:
        load_idx_dataset(tmp_path / "nowhere", "test")
    assert "t10k-images-idx3-ubyte.gz" in str(info.value)
    assert not (tmp_path / "nowhere").exists()  # nothing created, nothing fetched


def test_load_idx_dataset_downloads_from_a_server(tmp_path):
    served = tmp_path / "served"
    arrays = _write_mnist(served, seed=5)
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(served))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        root = tmp_path / "new" / "root"
        images, labels = load_idx_dataset(root, "train", download=True, base_url=base + "/")
        np.testing.assert_array_equal(images, arrays["train"][0])
        np.testing.assert_array_equal(labels, arrays["train"][1])
        assert sorted(p.name for p in root.iterdir()) == sorted(NAMES["train"])  # no .part left
        assert len(requests) == 2
        # present files are not fetched again
        load_idx_dataset(root, "train", download=True, base_url=base)
        assert len(requests) == 2
        # a missing file on the server is an error, and leaves no half-written file behind
        with pytest.raises(OSError):
            load_idx_dataset(tmp_path / "other", "train", download=True,
                             base_url=base + "/absent")
        assert not list((tmp_path / "other").glob("*.gz"))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
