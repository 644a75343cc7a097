"""dlopt_lab.ddp_demo: real two-process torchrun runs (gloo, CPU, 127.0.0.1).

Each torchrun run costs a few seconds (mostly two fresh `import torch`), so every run happens
once per module and its JSON is shared by the tests that read it.
"""

import math
import subprocess
import sys

import pytest

from dlopt_lab.ddp_demo import DDPDemoError, run_ddp_demo

# Tolerances for DDP vs one process on the concatenated batch. The two compute the same
# gradient, (g_0 + g_1) / 2, summed in a different order, so they differ by rounding: about
# one unit in the last place per step, over 60 SGD steps, on parameters of size ~1.
# float64: 60 * 2.2e-16 ~ 1e-14 -> 1e-12 leaves room; float32: 60 * 6e-8 ~ 4e-6 -> 1e-5.
# A wrong batch or a missing 1/W would change the parameters by ~1e-2 at lr 0.5.
TOL_FLOAT64 = 1e-12
TOL_FLOAT32 = 1e-5


@pytest.fixture(scope="module")
def train64():
    return run_ddp_demo("train", args=["--dtype", "float64"], timeout=90)


@pytest.fixture(scope="module")
def train32():
    return run_ddp_demo("train", timeout=90)


@pytest.fixture(scope="module")
def allreduce():
    return run_ddp_demo("allreduce", timeout=90)


def test_train_float64_replicas_identical_and_equal_to_single_process(train64):
    assert train64["world_size"] == 2 and train64["dtype"] == "float64"
    assert train64["replicas_identical"] is True
    assert train64["max_abs_diff_vs_single_process"] < TOL_FLOAT64


def test_train_float32_as_the_chapter_runs_it(train32):
    assert train32["dtype"] == "float32" and train32["steps"] == 60
    assert train32["replicas_identical"] is True
    assert train32["max_abs_diff_vs_single_process"] < TOL_FLOAT32
    # it learned something: below the loss of a uniform guess over 10 classes
    assert train32["final_loss"] < 0.5 * math.log(10)
    assert train32["seconds"] > 0


def test_allreduce_timings(allreduce):
    sizes, nbytes = allreduce["sizes"], allreduce["bytes"]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes) == 5
    assert nbytes == [4 * n for n in sizes]
    assert all(t > 0 for t in allreduce["median_ms"])
    assert len(allreduce["median_ms"]) == len(allreduce["gb_per_s"]) == len(sizes)
    for b, t, bw in zip(nbytes, allreduce["median_ms"], allreduce["gb_per_s"]):
        assert bw == pytest.approx(b / (t / 1e3) / 1e9)
    assert allreduce["correct"] is True  # every rank held 1 + 2 after the sum


def test_out_path_is_written(tmp_path):
    out = tmp_path / "ar.json"
    result = run_ddp_demo("allreduce", out=out, args=["--sizes", "10", "100", "--rounds", "2"])
    assert out.exists() and result["sizes"] == [10, 100]


@pytest.mark.parametrize("args, message", [
    (["--steps", "0"], "argument --steps: must be a positive integer"),  # argparse, before init
    (["--batch-size", "10000"], "ValueError: --batch-size 10000 is larger than a shard"),  # after
])
def test_failing_run_raises_with_the_workers_error(args, message):
    with pytest.raises(DDPDemoError, match="worker errors:") as info:
        run_ddp_demo("train", args=args, timeout=60)
    assert message in str(info.value) and "stderr tail:" in str(info.value)


@pytest.mark.parametrize("kwargs, name", [
    (dict(mode="sgd"), "mode"),
    (dict(mode="train", nproc=0), "nproc"),
    (dict(mode="train", timeout=0), "timeout"),
])
def test_bad_arguments_are_rejected_before_launching(kwargs, name):
    with pytest.raises(ValueError, match=name):
        run_ddp_demo(**kwargs)


def test_import_starts_nothing():
    code = (
        "import sys, threading, dlopt_lab\n"
        "assert 'dlopt_lab.ddp_demo' not in sys.modules  # the package does not pull it in\n"
        "before = threading.active_count()\n"
        "import dlopt_lab.ddp_demo, torch.distributed as dist\n"
        "assert not dist.is_initialized()\n"
        "assert threading.active_count() == before\n"
        "import multiprocessing; assert multiprocessing.active_children() == []\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
