"""Shared set-up: headless matplotlib, exercises in normal (non-strict) mode, no leaked figures."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _normal_exercise_mode(monkeypatch):
    """Exercise checks report instead of raising, unless a test sets DLOPT_LAB_STRICT itself."""
    monkeypatch.delenv("DLOPT_LAB_STRICT", raising=False)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
