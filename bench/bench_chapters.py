"""How long each chapter takes to execute top to bottom, as the book build runs it.

Each notebook in the table of contents is executed fresh with nbclient in its own kernel
(kernel start included, as for a reader pressing "Run all"). Goal: under 60 s per chapter on
the 2-core reference machine.

    python bench/bench_chapters.py [book/gradient-descent.ipynb ...]
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import nbformat
import yaml
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def toc_notebooks() -> list[Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for p in toc["parts"] for c in p["chapters"]]
    return [ROOT / f"{f}.ipynb" for f in files if (ROOT / f"{f}.ipynb").exists()]


def main(paths: list[Path]) -> dict:
    os.environ.setdefault("DLOPT_LAB_STRICT", "1")  # as the book build runs them
    os.environ.setdefault("DLOPT_LAB_PROGRESS", "0")
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    results = {}
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        t0 = time.perf_counter()
        client.execute()
        elapsed = time.perf_counter() - t0
        results[path.relative_to(ROOT).as_posix()] = elapsed
        print(f"{path.relative_to(ROOT)}: {elapsed:.1f} s (goal < 60 s)", flush=True)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "chapters.json").write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main([Path(p).resolve() for p in sys.argv[1:]] or toc_notebooks())
