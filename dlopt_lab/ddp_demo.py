"""Data-parallel training on two CPU processes: what DistributedDataParallel does, checked.

Launched by ``torchrun`` (gloo backend, CPU only, every process on 127.0.0.1)::

    torchrun --nproc_per_node=2 --master_addr=127.0.0.1 --master_port=29511 \\
        -m dlopt_lab.ddp_demo --mode train --out ddp.json

or, from a notebook, in one line with :func:`run_ddp_demo`.

* ``--mode train``: every rank builds the same MLP, wraps it in
  ``torch.nn.parallel.DistributedDataParallel`` and takes SGD steps on its own shard of the digits
  (``DistributedSampler``). Afterwards the ranks all-gather their parameters and check that the
  replicas are bit-identical, and rank 0 replays the same steps in one process on the
  concatenated batches. With :math:`W` shards of equal size :math:`B`,

  .. math::

     \\nabla_\\theta \\frac{1}{WB} \\sum_{i=1}^{WB} \\ell_i
       = \\frac{1}{W} \\sum_{r=1}^{W} \\nabla_\\theta \\frac{1}{B} \\sum_{i \\in \\text{shard } r} \\ell_i ,

  so DDP's averaged gradient is the full-batch gradient, and the two runs differ only by rounding.
* ``--mode allreduce``: the median time of ``dist.all_reduce`` on float32 tensors of growing size,
  the cost a data-parallel step pays once per step for a model of that many parameters.

Rank 0 writes the result as JSON to ``--out``. This module is never imported by
``dlopt_lab/__init__.py``: it imports torch at module level, and importing it starts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["DDPDemoError", "MODES", "run_ddp_demo", "main"]

MODES = ("train", "allreduce")
DEFAULT_SIZES = (1_000, 10_000, 100_000, 1_000_000, 4_000_000)
_LOOPBACK_IFNAME = "lo0" if sys.platform == "darwin" else "lo"
# argparse's "prog: error: ..." or an exception's last line, as "[rank1]: ValueError: ..."
_ERROR_LINE = re.compile(r"error:|^(\[rank\d+\]:)?\s*\w*(Error|Exception)\b")


class DDPDemoError(RuntimeError):
    """A ``torchrun`` run of this demo failed or timed out; the message ends with its output tail."""


# --------------------------------------------------------------------------------------------
# Launcher (the notebook side)
# --------------------------------------------------------------------------------------------


def _free_port() -> int:
    # The OS picks a free port; there is a short window in which another process could take it.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun() -> list[str]:
    exe = Path(sys.executable).parent / ("torchrun.exe" if os.name == "nt" else "torchrun")
    # `python -m torch.distributed.run` is what the torchrun script calls.
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "torch.distributed.run"]


def _tail(text: str, n: int = 3000) -> str:
    return text if len(text) <= n else "..." + text[-n:]


def _failure_report(text: str) -> str:
    """The workers' own error lines first (torchrun's summary often pushes them out of the tail)."""
    errors = [line.strip() for line in text.splitlines()
              if _ERROR_LINE.search(line) and "ChildFailedError" not in line]
    head = "worker errors:\n" + "\n".join(dict.fromkeys(errors[-5:])) + "\n" if errors else ""
    return f"{head}stderr tail:\n{_tail(text)}"


def run_ddp_demo(
    mode: str,
    *,
    nproc: int = 2,
    out: str | os.PathLike[str] | None = None,
    timeout: float = 120,
    args: Sequence[str] = (),
) -> dict[str, Any]:
    """Run this module under ``torchrun`` on ``nproc`` local CPU processes and return its JSON.

    ``mode`` is ``"train"`` or ``"allreduce"``; ``out`` is where rank 0 writes the JSON (a
    temporary file when ``None``); ``args`` are extra command-line options, for example
    ``["--dtype", "float64", "--steps", "30"]``. Everything talks over 127.0.0.1 on a free port.
    Raises :class:`DDPDemoError`, with the tail of the run's stderr, when the run fails or takes
    longer than ``timeout`` seconds.

    >>> result = run_ddp_demo("train")                     # doctest: +SKIP
    >>> result["replicas_identical"], result["max_abs_diff_vs_single_process"] < 1e-5
    (True, True)
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"nproc must be a positive integer, got {nproc!r}")
    if not timeout > 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(out) if out is not None else Path(tmp) / f"ddp_{mode}.json"
        cmd = [*_torchrun(), f"--nproc_per_node={nproc}", "--nnodes=1",
               "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
               "-m", "dlopt_lab.ddp_demo", "--mode", mode, "--out", str(path), *map(str, args)]
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        env.setdefault("OMP_NUM_THREADS", "1")  # torchrun would set it and print a warning
        env.setdefault("GLOO_SOCKET_IFNAME", _LOOPBACK_IFNAME)  # see _init_distributed
        # A session of its own, so a timeout can end torchrun *and* its worker processes.
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, start_new_session=(os.name == "posix"))
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                if os.name == "posix":
                    os.killpg(proc.pid, signal.SIGKILL)
                else:
                    proc.kill()
            stdout, stderr = proc.communicate()
            raise DDPDemoError(f"ddp_demo --mode {mode} timed out after {timeout} s; "
                               + _failure_report(stderr or stdout)) from None
        if proc.returncode != 0 or not path.exists():
            raise DDPDemoError(f"ddp_demo --mode {mode} failed (exit code {proc.returncode}); "
                               + _failure_report(stderr or stdout))
        return json.loads(path.read_text())


# --------------------------------------------------------------------------------------------
# The worker side (runs once per rank under torchrun)
# --------------------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dlopt_lab.ddp_demo", description=__doc__.split("\n")[0])
    p.add_argument("--mode", required=True, choices=MODES)
    p.add_argument("--out", required=True, help="JSON file that rank 0 writes")
    p.add_argument("--steps", type=_positive_int, default=60, help="train: SGD steps")
    p.add_argument("--batch-size", type=_positive_int, default=32, help="train: examples per rank")
    p.add_argument("--lr", type=float, default=0.5, help="train: SGD learning rate")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="train")
    p.add_argument("--seed", type=int, default=0, help="train: model and sampler seed")
    p.add_argument("--sizes", type=_positive_int, nargs="+", default=list(DEFAULT_SIZES),
                   help="allreduce: tensor sizes in float32 elements")
    p.add_argument("--rounds", type=_positive_int, default=20, help="allreduce: timed rounds")
    p.add_argument("--warmup", type=int, default=5, help="allreduce: untimed rounds first")
    return p


def _init_distributed() -> tuple[int, int]:
    # Gloo picks the network interface for its data connections from the host name, which can
    # resolve to a non-loopback address; when every process is on this machine, pin it to loopback.
    if os.environ.get("MASTER_ADDR", "127.0.0.1") in ("127.0.0.1", "localhost"):
        os.environ.setdefault("GLOO_SOCKET_IFNAME", _LOOPBACK_IFNAME)
    dist.init_process_group("gloo")  # RANK, WORLD_SIZE, MASTER_ADDR/PORT come from torchrun
    return dist.get_rank(), dist.get_world_size()


def _make_model(seed: int, dtype: torch.dtype) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)).to(dtype)


def _flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def _batches(sampler: Any, batch_size: int, steps: int) -> list[torch.Tensor]:
    """The first ``steps`` index batches this rank's sampler yields, epoch after epoch."""
    out: list[torch.Tensor] = []
    epoch = 0
    while len(out) < steps:
        sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
        order = torch.tensor(list(sampler))
        n_full = len(order) // batch_size  # drop the last, short batch: shards stay equal
        out += list(order[: n_full * batch_size].split(batch_size))
        epoch += 1
    return out[:steps]


def _train(args: argparse.Namespace, rank: int, world_size: int) -> dict[str, Any] | None:
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data.distributed import DistributedSampler

    from dlopt_lab.data import load_digits

    dtype = getattr(torch, args.dtype)
    data = load_digits(seed=args.seed)
    X, y = data.X_train.to(dtype), data.y_train
    if len(X) // world_size < args.batch_size:
        raise ValueError(f"--batch-size {args.batch_size} is larger than a shard "
                         f"({len(X) // world_size} examples)")
    sampler = DistributedSampler(range(len(X)), num_replicas=world_size, rank=rank,
                                 shuffle=True, seed=args.seed)
    batches = _batches(sampler, args.batch_size, args.steps)  # (steps,) of (B,) indices

    model = _make_model(args.seed, dtype)
    initial = copy.deepcopy(model)
    # DDP also broadcasts rank 0's parameters when it wraps the model, so the replicas would
    # start equal even without the shared seed.
    ddp = DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()

    dist.barrier()
    start = time.perf_counter()
    for idx in batches:
        opt.zero_grad()
        loss = loss_fn(ddp(X[idx]), y[idx])
        loss.backward()  # DDP all-reduces the gradients here: g = (1/W) sum_r g_r
        opt.step()
    seconds = time.perf_counter() - start

    # Replicas in sync: every rank's parameters, bit for bit, against rank 0's.
    flat = _flat(model)
    gathered = [torch.empty_like(flat) for _ in range(world_size)]
    dist.all_gather(gathered, flat)
    bits = torch.int64 if dtype == torch.float64 else torch.int32  # compare bit patterns
    identical = all(torch.equal(g.view(bits), gathered[0].view(bits)) for g in gathered)
    # The last step's loss on the whole (concatenated) batch = the mean of the ranks' losses.
    last = loss.detach().clone()
    dist.all_reduce(last)
    final_loss = float(last) / world_size
    # Every rank's batches, to replay on one process: (W, steps, B).
    idx_all = torch.stack(batches)
    idx_gathered = [torch.empty_like(idx_all) for _ in range(world_size)]
    dist.all_gather(idx_gathered, idx_all)
    if rank != 0:
        return None

    single = initial
    opt1 = torch.optim.SGD(single.parameters(), lr=args.lr)
    for step in range(args.steps):
        idx = torch.cat([g[step] for g in idx_gathered])  # the W shards, one batch of W*B
        opt1.zero_grad()
        loss_fn(single(X[idx]), y[idx]).backward()
        opt1.step()
    diff = float((_flat(single) - flat).abs().max())
    return {"world_size": world_size, "steps": args.steps, "batch_size_per_rank": args.batch_size,
            "lr": args.lr, "dtype": args.dtype, "replicas_identical": bool(identical),
            "max_abs_diff_vs_single_process": diff, "final_loss": final_loss,
            "seconds": seconds}


def _allreduce(args: argparse.Namespace, rank: int, world_size: int) -> dict[str, Any] | None:
    sizes = sorted(set(args.sizes))
    medians, correct = [], True
    for n in sizes:
        x = torch.empty(n, dtype=torch.float32)
        times = []
        for i in range(args.warmup + args.rounds):
            x.fill_(rank + 1)
            dist.barrier()  # start together, so one rank's lateness is not timed as transfer
            t0 = time.perf_counter()
            dist.all_reduce(x)  # synchronous on CPU with gloo: it has finished when it returns
            dt = time.perf_counter() - t0
            if i >= args.warmup:
                times.append(dt)
        correct &= bool((x == world_size * (world_size + 1) / 2).all())
        # A collective is as slow as its slowest rank: take each round's maximum over ranks.
        t = torch.tensor(times, dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        medians.append(statistics.median(t.tolist()))
    if rank != 0:
        return None
    nbytes = [4 * n for n in sizes]
    return {"world_size": world_size, "rounds": args.rounds, "sizes": sizes, "bytes": nbytes,
            "median_ms": [1e3 * m for m in medians],
            # "algorithm bandwidth" = tensor bytes / time (for 2 ranks equal to NCCL's bus bandwidth)
            "gb_per_s": [b / m / 1e9 for b, m in zip(nbytes, medians, strict=True)],
            "correct": correct}


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of one rank under ``torchrun``; see the module docstring."""
    args = _parser().parse_args(argv)
    # Two ranks share two cores: with torch's default of one thread per core, each rank's
    # intra-op pool would fight the other's for the same cores (oversubscription), and the
    # timings would measure the contention. One thread per rank, as OMP_NUM_THREADS=1 would do.
    torch.set_num_threads(1)
    rank, world_size = _init_distributed()
    try:
        run = _train if args.mode == "train" else _allreduce
        result = run(args, rank, world_size)
        if result is not None:
            Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
