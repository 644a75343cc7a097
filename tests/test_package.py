"""The package surface: public names, a cheap import, and the docstring examples."""

import doctest
import importlib
import json
import subprocess
import sys

import pytest

import dlopt_lab

MODULES = ["landscapes", "trajectories", "plotting", "explorers", "data", "reproducibility",
           "devices", "source", "optim", "optim.functional", "exercises", "exercises.core",
           "training", "schedules", "preprocessing", "initialization", "regularization", "search",
           "quant", "timing", "serve", "grading"]


def test_every_public_name_exists():
    assert len(set(dlopt_lab.__all__)) == len(dlopt_lab.__all__)
    missing = [name for name in dlopt_lab.__all__ if not hasattr(dlopt_lab, name)]
    assert not missing
    assert isinstance(dlopt_lab.__version__, str) and dlopt_lab.__version__.count(".") == 2


@pytest.mark.parametrize("module", MODULES)
def test_submodule_public_names_exist_and_match_the_package(module):
    mod = importlib.import_module(f"dlopt_lab.{module}")
    for name in mod.__all__:
        assert hasattr(mod, name), f"dlopt_lab.{module}.{name}"
        if name in dlopt_lab.__all__:  # a re-export is the very same object
            assert getattr(dlopt_lab, name) is getattr(mod, name)


def test_import_is_cheap():
    code = (
        "import json, sys, dlopt_lab\n"
        "heavy = ['torch', 'matplotlib', 'matplotlib.pyplot', 'sklearn', 'ipywidgets', 'IPython']\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=60)
    assert json.loads(out.stdout) == []
    # the probe itself works: importing torch is seen
    out = subprocess.run([sys.executable, "-c", code.replace("dlopt_lab\n", "dlopt_lab, torch\n")],
                         capture_output=True, text=True, check=True, timeout=60)
    assert "torch" in json.loads(out.stdout)


@pytest.mark.parametrize("module", ["landscapes", "trajectories", "optim.functional", "explorers"])
def test_doctests_pass(module):
    mod = importlib.import_module(f"dlopt_lab.{module}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS,
                             verbose=False)
    assert result.attempted > 0
    assert result.failed == 0


def _documented(x):
    """A docstring that show_source drops."""
    return x + 1  # the code itself


def test_show_source():
    pytest.importorskip("IPython")
    from dlopt_lab import show_source

    code = show_source(_documented)
    assert code.data.startswith("def _documented(x):\n")
    assert "return x + 1  # the code itself" in code.data and "docstring" not in code.data
    full = show_source(_documented, docstring=True).data
    assert '"""A docstring that show_source drops."""' in full
    with pytest.raises(ValueError, match="^obj must be a function or class"):
        show_source(len)
