"""Which device to compute on: CUDA, then Apple's MPS, then the CPU."""

from __future__ import annotations

from typing import Any

__all__ = ["device_name", "pick_device"]

_ALLOWED = ("cuda", "mps", "cpu")


def pick_device(prefer: str | None = None) -> Any:
    """The best available ``torch.device``: CUDA if present, else Apple MPS, else the CPU.

    Args:
        prefer: ``"cuda"``, ``"mps"`` or ``"cpu"`` to ask for one; it must be available.
    """
    import torch

    if prefer is not None:
        if prefer not in _ALLOWED:
            raise ValueError(f"prefer must be one of {_ALLOWED} or None, got {prefer!r}")
        if not _available(prefer):
            raise ValueError(f"prefer={prefer!r}, but no {prefer} device is available here")
        return torch.device(prefer)
    for kind in _ALLOWED:
        if _available(kind):
            return torch.device(kind)
    raise AssertionError("unreachable: the CPU is always available")


def _available(kind: str) -> bool:
    import torch

    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        return bool(mps is not None and mps.is_available())
    return True


def device_name(device: Any = None) -> str:
    """A human-readable name of ``device`` (default: :func:`pick_device`), e.g. the GPU model."""
    import torch

    device = pick_device() if device is None else torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    import platform

    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
