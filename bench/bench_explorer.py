"""How long one live explorer update takes: the chapter-1 learning-rate explorer.

A slider move in a running notebook calls ``Explorer.render`` for a frame not drawn before:
run gradient descent (40 steps), draw two panels, save a PNG (the live widget skips the palette
step that the website's frames get). We time
that uncached path for every slider value, several rounds, and report the median and spread.
Goal: median under 100 ms on the 2-core reference machine.

    python bench/bench_explorer.py
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import dlopt_lab as lab  # noqa: E402
from dlopt_lab.optim import sgd  # noqa: E402

bowl = lab.quadratic(kappa=10)
LRS = [0.1, 0.4, 0.8, 1.0, 1.4, 1.8, 1.95, 2.05, 2.2]


def draw(fig, lr):  # the chapter's drawing function
    traj = lab.run(bowl, sgd(lr=lr), num_steps=40)
    ax1, ax2 = fig.subplots(1, 2)
    lab.plot_landscape(bowl, ax=ax1, resolution=100, levels=15)  # coarse: a new frame in < 0.1 s
    lab.plot_path(traj, ax=ax1)
    lab.plot_loss({f"η = {lr:g}": traj.values}, ax=ax2)
    ax2.axhline(traj.values[0], color="0.6", lw=0.8, ls=":")
    verdict = "diverges" if traj.values[-1] > traj.values[0] else "converges"
    ax2.set_title(f"η = {lr:g}: {verdict}")


def main(rounds: int = 5) -> dict:
    lab.use_book_style()
    explorer = lab.Explorer(draw, {"lr": LRS}, initial={"lr": 1.4})
    explorer.render()  # warm-up: imports, font cache, contour grid
    uncached, cpu = [], []
    for _ in range(rounds):
        for lr in LRS:
            explorer._cache.clear()
            t0, c0 = time.perf_counter(), time.process_time()
            explorer.render(compact=False, lr=lr)  # as the live widget draws it
            uncached.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    t0 = time.perf_counter()
    html = lab.Explorer(draw, {"lr": LRS}, initial={"lr": 1.4}).fallback_html()  # as the build does
    all_frames = time.perf_counter() - t0
    explorer.frames()  # every frame drawn once: what a reader meets after the first display
    cached = []
    for lr in LRS:
        t0 = time.perf_counter()
        explorer.render(lr=lr)
        cached.append(time.perf_counter() - t0)
    ms = [1000 * t for t in uncached]
    result = {
        "uncached_update_ms": {
            "median": statistics.median(ms),
            "p10": sorted(ms)[len(ms) // 10],
            "p90": sorted(ms)[(9 * len(ms)) // 10],
            "n": len(ms),
        },
        # CPU time of this process: what a frame costs, whatever else the machine is doing
        "uncached_update_cpu_ms_median": 1000 * statistics.median(cpu),
        "cached_update_ms_median": 1000 * statistics.median(cached),
        "fallback_frames": len(LRS),
        "fallback_bytes": len(html.encode()),
        "fallback_build_s": all_frames,
        "goal_ms": 100,
    }
    print(f"explorer update (uncached): median {result['uncached_update_ms']['median']:.1f} ms "
          f"(p10 {result['uncached_update_ms']['p10']:.1f}, p90 {result['uncached_update_ms']['p90']:.1f}, "
          f"n={len(ms)}); goal < 100 ms")
    print(f"explorer update (uncached), CPU time of this process: median "
          f"{result['uncached_update_cpu_ms_median']:.1f} ms")
    print(f"explorer update (cached frame): median {result['cached_update_ms_median']:.3f} ms")
    print(f"static fallback: {len(LRS)} frames, {result['fallback_bytes'] / 1e3:.0f} kB, "
          f"built in {all_frames:.2f} s")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "explorer.json").write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
