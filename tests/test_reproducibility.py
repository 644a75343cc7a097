"""Seeding and device choice."""

import random

import numpy as np
import pytest
import torch

from dlopt_lab.devices import device_name, pick_device
from dlopt_lab.reproducibility import set_seed


def _draw():
    return torch.randn(4), np.random.rand(4), [random.random() for _ in range(4)]


def test_set_seed_repeats_torch_numpy_and_random():
    rng = set_seed(123)
    first = _draw()
    assert isinstance(rng, np.random.Generator)
    np.testing.assert_array_equal(rng.random(5), np.random.default_rng(123).random(5))
    set_seed(123)
    again = _draw()
    set_seed(124)
    other = _draw()
    assert torch.equal(first[0], again[0]) and not torch.equal(first[0], other[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])
    assert first[2] == again[2] and first[2] != other[2]


def test_set_seed_accepts_the_whole_range():
    set_seed(0)
    set_seed(2**32 - 1)
    assert isinstance(set_seed(np.int64(7)), np.random.Generator)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True, "1", None])
def test_set_seed_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match=r"^seed must be an integer in \[0, 2\*\*32\)"):
        set_seed(seed)


def _fake_hardware(monkeypatch, cuda: bool, mps: bool):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


def test_pick_device_here():
    # this machine has no accelerator; on one that has, the order is CUDA, then MPS
    if torch.cuda.is_available():
        assert pick_device().type == "cuda"
    elif torch.backends.mps.is_available():
        assert pick_device().type == "mps"
    else:
        assert pick_device() == torch.device("cpu")
    assert pick_device(prefer="cpu") == torch.device("cpu")


@pytest.mark.parametrize(
    "cuda, mps, expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")]
)
def test_pick_device_order(monkeypatch, cuda, mps, expected):
    _fake_hardware(monkeypatch, cuda, mps)
    assert pick_device() == torch.device(expected)
    assert pick_device(prefer="cpu") == torch.device("cpu")


def test_pick_device_rejects_unavailable_or_unknown(monkeypatch):
    _fake_hardware(monkeypatch, cuda=False, mps=False)
    for kind in ("cuda", "mps"):
        with pytest.raises(ValueError, match=rf"^prefer='{kind}', but no {kind} device"):
            pick_device(prefer=kind)
    for bad in ("tpu", "CUDA", "gpu", 0):
        with pytest.raises(ValueError, match=r"^prefer must be one of \('cuda', 'mps', 'cpu'\)"):
            pick_device(prefer=bad)


def test_device_name():
    name = device_name("cpu")
    assert isinstance(name, str) and name.startswith("CPU (") and "threads" in name
    assert f"{torch.get_num_threads()} threads" in name
    assert isinstance(device_name(), str) and device_name()
    assert device_name(torch.device("mps")) == "Apple MPS"
