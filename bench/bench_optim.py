"""Time ``step()`` of dlopt_lab's optimizers against torch.optim's default implementation.

    python bench/bench_optim.py [--repeats 200]

A 784-1024-256-10 MLP (about 1.07M float32 parameters) with fixed random gradients; for each
optimizer, our class and torch.optim's (constructed with defaults, so on CPU its per-parameter
for-loop) each own a copy of the model. Their steps are timed interleaved, alternating which
goes first, and the medians compared. Prints a table and writes it to bench/results/optim.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

import dlopt_lab.optim as ours

CASES = {  # name: constructor keyword arguments, the same for both implementations
    "SGD": {"lr": 1e-3},
    "SGD(momentum=0.9)": {"lr": 1e-3, "momentum": 0.9},
    "Adagrad": {},
    "RMSprop": {},
    "Adam": {},
    "AdamW": {},
}


def make_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 1024),
        torch.nn.ReLU(),
        torch.nn.Linear(1024, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 10),
    )
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-2
    return model


def time_step(opt: torch.optim.Optimizer) -> float:
    t0 = time.perf_counter()
    opt.step()
    return time.perf_counter() - t0


def bench(name: str, kwargs: dict, repeats: int, warmup: int = 10) -> dict:
    cls_name = name.split("(")[0]
    model_ours, model_torch = make_model(), make_model()
    model_torch.load_state_dict(model_ours.state_dict())
    for p, q in zip(model_ours.parameters(), model_torch.parameters(), strict=True):
        q.grad = p.grad.clone()
    opt_ours = getattr(ours, cls_name)(model_ours.parameters(), **kwargs)
    opt_torch = getattr(torch.optim, cls_name)(model_torch.parameters(), **kwargs)
    for _ in range(warmup):
        opt_ours.step()
        opt_torch.step()
    t_ours, t_torch = [], []
    for i in range(repeats):
        if i % 2 == 0:
            t_ours.append(time_step(opt_ours))
            t_torch.append(time_step(opt_torch))
        else:
            t_torch.append(time_step(opt_torch))
            t_ours.append(time_step(opt_ours))
    # both took the same steps from the same start: they must agree (float32, bitwise or nearly)
    for p, q in zip(model_ours.parameters(), model_torch.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)
    ms_ours, ms_torch = 1e3 * statistics.median(t_ours), 1e3 * statistics.median(t_torch)
    return {
        "optimizer": name,
        "ours_ms": round(ms_ours, 3),
        "torch_ms": round(ms_torch, 3),
        "ratio": round(ms_ours / ms_torch, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    n_params = sum(p.numel() for p in make_model().parameters())
    rows = [bench(name, kwargs, args.repeats) for name, kwargs in CASES.items()]

    print(
        f"step() on a {n_params:,}-parameter MLP, float32, median of {args.repeats}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(f"{'optimizer':<20}{'ours (ms)':>11}{'torch (ms)':>12}{'ours/torch':>12}")
    for r in rows:
        print(f"{r['optimizer']:<20}{r['ours_ms']:>11.3f}{r['torch_ms']:>12.3f}{r['ratio']:>12.2f}")

    out = Path(__file__).parent / "results" / "optim.json"
    out.parent.mkdir(exist_ok=True)
    meta = {
        "model": "MLP 784-1024-256-10",
        "num_params": n_params,
        "dtype": "float32",
        "repeats": args.repeats,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "processor": platform.processor(),
    }
    out.write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
