"""The Colab button, tested: every chapter run the way a new Colab user runs it.

A clean virtual environment gets only what a Colab runtime has preinstalled
(``tests/colab-requirements.txt``: Colab's numpy, matplotlib, ipywidgets 7.7.1, torchao 0.10, ...,
with this machine's torch) and no ``dlopt_lab``. For each notebook in the table of contents,
``dlopt_lab`` is uninstalled, the notebook's own setup cell runs with its install spec
(``dlopt-lab @ git+{REPO}`` on Colab) pointed at a wheel built from this checkout, and the
notebook runs to the end. The setup cell must install ``dlopt_lab`` and reinstall none of
Colab's big packages.

The environment lives in ``_build/colab-venv`` and is reused while its pins are unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from test_book import NOTEBOOKS, ROOT

pytestmark = pytest.mark.colab

HERE = Path(__file__).resolve().parent
PINS = HERE / "colab-requirements.txt"
VENV = ROOT / "_build" / "colab-venv"
# Colab's preinstalled packages that a setup cell must leave alone. (torchao is not among them:
# the quantization chapter needs a newer one than Colab's 0.10 and says so.)
KEPT = ("torch", "numpy", "matplotlib", "scikit-learn", "ipywidgets", "tqdm")


def _pip(python: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, **kw)


def _versions(python: Path) -> dict[str, str]:
    listed = json.loads(_pip(python, "list", "--format=json", check=True).stdout)
    return {p["name"].lower(): p["version"] for p in listed}


@pytest.fixture(scope="session")
def colab_python() -> Path:
    """The Python of a Colab-like virtual environment (created once, reused while pins match)."""
    torch_pin = "torch==" + version("torch").split("+")[0]  # this machine's torch, as the Makefile's
    wanted = torch_pin + "\n" + PINS.read_text()
    python = VENV / "bin" / "python"
    stamp = VENV / "pins.txt"
    if not (python.exists() and stamp.exists() and stamp.read_text() == wanted):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        for args in ([torch_pin], ["-r", str(PINS)]):  # torch first, so nothing else pulls one in
            proc = _pip(python, "install", "-q", *args)
            assert proc.returncode == 0, proc.stdout + proc.stderr
        stamp.write_text(wanted)
    return python


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """dlopt_lab built from this checkout, as pip would build it from the repository URL."""
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
         str(ROOT)], capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (built,) = out.glob("dlopt_lab-*.whl")
    return built


def test_the_environment_is_colab_like(colab_python):
    installed = _versions(colab_python)
    for name, pinned in _pins().items():
        assert installed[name] == pinned, f"{name} {installed[name]} != {pinned}"
    for absent in ("dlopt-lab", "onnxruntime", "onnx", "otter-grader", "jupyter-book"):
        assert absent not in installed, f"{absent} is installed; Colab does not have it"


@pytest.mark.parametrize("doc", NOTEBOOKS)
def test_notebook_runs_on_a_colab_like_runtime(colab_python, wheel, doc, tmp_path):
    _pip(colab_python, "uninstall", "-q", "-y", "dlopt-lab")  # a fresh runtime, as each Colab tab is
    before = _versions(colab_python)
    assert "dlopt-lab" not in before

    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "VIRTUAL_ENV", "PYTHONPATH")}
    env.update(DLOPT_LAB_PROGRESS="0", OMP_WAIT_POLICY="passive", PYTHONUNBUFFERED="1")
    proc = subprocess.run(
        [str(colab_python), str(HERE / "colab_runner.py"), str(ROOT / f"{doc}.ipynb"), str(wheel),
         str(tmp_path / "executed.ipynb")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, f"{doc} failed on the Colab-like runtime:\n{proc.stderr[-6000:]}"
    print(f"{doc}: ran in {proc.stdout.strip().splitlines()[-1]} s")

    after = _versions(colab_python)
    assert "dlopt-lab" in after, "the setup cell did not install dlopt_lab into the kernel's Python"
    changed = {p: (before[p], after[p]) for p in KEPT if before[p] != after[p]}
    # the next notebook gets a runtime as Colab starts it, whatever this one upgraded
    upgraded = [f"{p}=={v}" for p, v in _pins().items() if after.get(p) != v]
    if upgraded:
        print(f"{doc} upgraded {[(p, after.get(p.split('==')[0])) for p in upgraded]}")
        _pip(colab_python, "install", "-q", *upgraded, check=True)
    assert not changed, f"the setup cell replaced Colab's packages: {changed}"


def _pins() -> dict[str, str]:
    pins = (line.split("==") for line in PINS.read_text().splitlines()
            if "==" in line and not line.startswith("#"))
    return {name.lower(): pinned for name, pinned in pins}
