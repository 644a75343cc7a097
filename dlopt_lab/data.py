"""Data sets that need no download: scikit-learn's digits, synthetic sets, and IDX files.

* :func:`load_digits`: the 1,797 real 8x8 handwritten digits that ship inside scikit-learn,
  split once into fixed, stratified train / validation / test sets.
* :func:`digits_loaders`: the same as seeded ``DataLoader`` objects.
* :func:`make_regression`, :func:`make_classification`: small synthetic sets with known truth.
* :func:`read_idx`, :func:`write_idx`, :func:`load_idx_dataset`: the IDX format of MNIST and
  Fashion-MNIST. Nothing is downloaded unless ``download=True`` is passed.
"""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DigitsData",
    "digits_loaders",
    "load_digits",
    "load_idx_dataset",
    "make_classification",
    "make_regression",
    "read_idx",
    "write_idx",
]


# --------------------------------------------------------------------------------------------
# Digits
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigitsData:
    """Fixed train / validation / test splits of scikit-learn's digits.

    ``X_*`` are float32 tensors with pixel values scaled from 0..16 to [0, 1], shape
    ``(n, 64)`` (or ``(n, 1, 8, 8)`` with ``flatten=False``); ``y_*`` are int64 labels 0..9.
    """

    X_train: Any
    y_train: Any
    X_val: Any
    y_val: Any
    X_test: Any
    y_test: Any

    @property
    def num_features(self) -> int:
        return int(np.prod(self.X_train.shape[1:]))

    num_classes: int = 10

    def __repr__(self) -> str:
        return (f"DigitsData(train={len(self.y_train)}, val={len(self.y_val)}, "
                f"test={len(self.y_test)}, x_shape={tuple(self.X_train.shape[1:])})")


def _check_fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
    return float(value)


def load_digits(
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    *,
    seed: int = 0,
    flatten: bool = True,
    as_tensors: bool = True,
) -> DigitsData:
    """scikit-learn's handwritten digits (1,797 images of 8x8 pixels), split with stratification.

    The split is a function of ``seed`` alone, so every chapter sees the same test set.
    ``as_tensors=False`` returns NumPy arrays (float64 pixels) instead of torch tensors.
    """
    val_fraction = _check_fraction("val_fraction", val_fraction)
    test_fraction = _check_fraction("test_fraction", test_fraction)
    if val_fraction + test_fraction >= 1:
        raise ValueError(
            f"val_fraction + test_fraction must be < 1, got {val_fraction} + {test_fraction}"
        )
    from sklearn.datasets import load_digits as _sk_digits
    from sklearn.model_selection import train_test_split

    X, y = _sk_digits(return_X_y=True)
    X = X / 16.0
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=test_fraction, stratify=y, random_state=seed
    )
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=val_fraction / (1 - test_fraction), stratify=y_rest,
        random_state=seed,
    )
    parts = [X_train, y_train, X_val, y_val, X_test, y_test]
    if not flatten:
        parts[0::2] = [x.reshape(-1, 1, 8, 8) for x in parts[0::2]]
    if as_tensors:
        import torch

        parts[0::2] = [torch.as_tensor(x, dtype=torch.float32) for x in parts[0::2]]
        parts[1::2] = [torch.as_tensor(t, dtype=torch.int64) for t in parts[1::2]]
    return DigitsData(*parts)


def digits_loaders(
    batch_size: int = 64,
    *,
    seed: int = 0,
    data: DigitsData | None = None,
) -> dict[str, Any]:
    """``{"train", "val", "test"}`` DataLoaders over :func:`load_digits`; train is shuffled.

    The shuffling generator is seeded, so two calls give the same batches in the same order.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    d = load_digits(seed=seed) if data is None else data
    gen = torch.Generator().manual_seed(seed)
    return {
        "train": DataLoader(TensorDataset(d.X_train, d.y_train), batch_size=int(batch_size),
                            shuffle=True, generator=gen),
        "val": DataLoader(TensorDataset(d.X_val, d.y_val), batch_size=int(batch_size)),
        "test": DataLoader(TensorDataset(d.X_test, d.y_test), batch_size=int(batch_size)),
    }


# --------------------------------------------------------------------------------------------
# Synthetic sets
# --------------------------------------------------------------------------------------------


def _check_count(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def make_regression(
    n_samples: int = 200,
    n_features: int = 2,
    *,
    noise: float = 0.1,
    scales: Any = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""A linear regression problem :math:`y = X w^\star + b^\star + \varepsilon` with known truth.

    Args:
        scales: optional per-feature standard deviations of ``X`` (badly scaled features make
            an ill-conditioned least-squares problem).

    Returns:
        ``(X, y, w_true)`` with ``w_true`` of length ``n_features + 1`` (the weights, then the
        intercept), all float64.
    """
    n = _check_count("n_samples", n_samples, 2)
    d = _check_count("n_features", n_features)
    if not (isinstance(noise, (int, float)) and noise >= 0):
        raise ValueError(f"noise must be a number >= 0, got {noise!r}")
    rng = np.random.default_rng(seed)
    s = np.ones(d) if scales is None else np.asarray(scales, dtype=float)
    if s.shape != (d,) or np.any(s <= 0):
        raise ValueError(f"scales must be {d} positive numbers, got {scales!r}")
    X = rng.standard_normal((n, d)) * s
    w = rng.uniform(-2, 2, size=d + 1)
    y = X @ w[:-1] + w[-1] + noise * rng.standard_normal(n)
    return X, y, w


def make_classification(
    n_samples: int = 300,
    n_classes: int = 2,
    *,
    n_features: int = 2,
    spread: float = 1.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs, one per class, centred on a circle of radius 2 (in the first 2 features).

    Returns ``(X, y)``: float64 features and int64 labels ``0..n_classes-1``, balanced.
    """
    n = _check_count("n_samples", n_samples, 2)
    k = _check_count("n_classes", n_classes, 2)
    d = _check_count("n_features", n_features, 2)
    if not (isinstance(spread, (int, float)) and spread > 0):
        raise ValueError(f"spread must be a positive number, got {spread!r}")
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    angles = 2 * np.pi * np.arange(k) / k
    centres = np.zeros((k, d))
    centres[:, 0], centres[:, 1] = 2 * np.cos(angles), 2 * np.sin(angles)
    X = centres[y] + spread * rng.standard_normal((n, d))
    perm = rng.permutation(n)
    return X[perm], y[perm].astype(np.int64)


# --------------------------------------------------------------------------------------------
# IDX files (MNIST, Fashion-MNIST)
# --------------------------------------------------------------------------------------------

# type code -> big-endian dtype, as in the IDX specification
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dt.newbyteorder("=").str[1:]: code for code, dt in _IDX_DTYPES.items()}


def _open(path: Path, mode: str) -> Any:
    return gzip.open(path, mode) if path.suffix == ".gz" else open(path, mode)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (optionally gzipped, by a ``.gz`` suffix) into a native-endian array.

    The format: two zero bytes, a type code, the number of dimensions ``k``; then ``k``
    big-endian 32-bit sizes; then the data, big-endian, row-major.
    """
    path = Path(path)
    try:
        with _open(path, "rb") as f:
            raw = f.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: not a readable gzip file ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"{path}: IDX data has {len(raw) - header} bytes, the header announces {expected}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike[str], array: Any) -> Path:
    """Write ``array`` as an IDX file (gzipped if ``path`` ends in ``.gz``); returns the path."""
    arr = np.asarray(array)
    key = arr.dtype.newbyteorder("=").str[1:]
    if key not in _IDX_CODES:
        raise ValueError(
            f"array dtype {arr.dtype} has no IDX type; use uint8, int8, int16, int32, float32 or float64"
        )
    if arr.ndim == 0 or arr.ndim > 255:
        raise ValueError(f"array must have 1 to 255 dimensions, got {arr.ndim}")
    code = _IDX_CODES[key]
    path = Path(path)
    with _open(path, "wb") as f:
        f.write(bytes([0, 0, code, arr.ndim]))
        f.write(struct.pack(f">{arr.ndim}I", *arr.shape))
        f.write(np.ascontiguousarray(arr, dtype=_IDX_DTYPES[code]).tobytes())
    return path


MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"


def load_idx_dataset(
    root: str | os.PathLike[str],
    split: str = "train",
    *,
    download: bool = False,
    base_url: str = MNIST_URL,
    files: dict[str, tuple[str, str]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of an MNIST-style data set stored as IDX files in ``root``.

    Args:
        root: the folder holding the files (``train-images-idx3-ubyte.gz`` etc.).
        split: ``"train"`` or ``"test"``.
        download: fetch missing files from ``base_url`` into ``root``. Off by default: the book
            never downloads behind the reader's back.
        base_url: where to fetch from (MNIST by default; Fashion-MNIST uses the same names).
        files: ``split -> (images file, labels file)``, if the names differ from MNIST's.

    Returns:
        ``(images, labels)`` as uint8 arrays of shapes ``(n, rows, cols)`` and ``(n,)``.
    """
    files = MNIST_FILES if files is None else files
    if split not in files:
        raise ValueError(f"split must be one of {sorted(files)}, got {split!r}")
    root = Path(root)
    paths = [root / name for name in files[split]]
    missing = [p for p in paths if not p.exists()]
    if missing:
        if not download:
            raise FileNotFoundError(
                f"{', '.join(p.name for p in missing)} not in {root}; pass download=True to fetch "
                f"from {base_url}"
            )
        root.mkdir(parents=True, exist_ok=True)
        for p in missing:
            url = base_url.rstrip("/") + "/" + p.name
            tmp = p.with_suffix(p.suffix + ".part")
            try:
                with urllib.request.urlopen(url, timeout=60) as resp, open(tmp, "wb") as out:
                    shutil.copyfileobj(resp, out)
                tmp.replace(p)
            finally:
                tmp.unlink(missing_ok=True)  # a failed transfer leaves nothing half-written
    images, labels = (read_idx(p) for p in paths)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"expected images (n, rows, cols) and labels (n,), got {images.shape} and {labels.shape}"
        )
    return images, labels
