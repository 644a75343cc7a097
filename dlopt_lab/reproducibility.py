"""Seeding: the same numbers and figures on every run of a chapter."""

from __future__ import annotations

import random

import numpy as np

__all__ = ["set_seed"]


def set_seed(seed: int = 0) -> np.random.Generator:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every GPU).

    Returns a fresh ``numpy.random.Generator`` seeded with ``seed``, for code that prefers an
    explicit generator. (Bit-for-bit equality on a GPU can also need deterministic kernels:
    ``torch.use_deterministic_algorithms(True)``; the book does not force it.)
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (the legacy global generator is what we seed here)
    import torch

    torch.manual_seed(seed)  # also seeds every CUDA device
    return np.random.default_rng(seed)
