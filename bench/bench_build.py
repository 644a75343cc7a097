"""The book's performance budget, measured: build times and page weights.

1. A clean build of the whole book (every notebook executed, every page rendered), from a copy
   of the working tree with no ``_build`` at all. Goal: under 8 minutes on the 2-core machine.
2. A cached rebuild after a prose-only edit (one sentence added to a markdown cell of a
   chapter): the execution cache still matches (it hashes code cells only), so nothing runs
   again. Goal: under 30 s.
3. The weight of each page (its HTML and the images it shows; explorer frames are inline).
   Goal: no page over 3 MB. ``tests/test_book.py`` asserts this limit on every build.

    python bench/bench_build.py            # writes bench/results/build.json

The build runs as ``make book`` runs it (``DLOPT_LAB_STRICT=1 DLOPT_LAB_PROGRESS=0
OMP_WAIT_POLICY=passive``). On a machine shared with other work the times are upper bounds.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_book import PAGES, page_weight  # noqa: E402

EDITED = "book/momentum.ipynb"  # the chapter whose prose the rebuild changes


def build(tree: Path) -> float:
    env = {**os.environ, "DLOPT_LAB_STRICT": "1", "DLOPT_LAB_PROGRESS": "0", "OMP_WAIT_POLICY": "passive"}
    env.pop("MPLBACKEND", None)
    jb = Path(sys.executable).with_name("jupyter-book")
    start = time.perf_counter()
    proc = subprocess.run([str(jb), "build", str(tree)], cwd=tree, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(proc.stdout[-4000:] + proc.stderr[-4000:])
    return elapsed


def main() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "book"
        ignore = shutil.ignore_patterns("_build", ".venv", ".git", "*.egg-info", "__pycache__", ".*cache")
        shutil.copytree(ROOT, tree, ignore=ignore)

        clean = build(tree)

        nb = nbformat.read(tree / EDITED, as_version=4)
        prose = next(c for c in nb.cells if c.cell_type == "markdown")
        prose.source += "\n\nThis sentence was added by bench/bench_build.py."
        nbformat.write(nb, tree / EDITED)
        cached = build(tree)

        site = tree / "_build" / "html"
        html = (site / EDITED.replace(".ipynb", ".html")).read_text()
        assert "added by bench/bench_build.py" in html, "the rebuild did not pick up the edit"
        weights = {doc: page_weight(site, doc) for doc in PAGES}

    heaviest = sorted(weights, key=weights.get, reverse=True)[:5]
    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "clean_build_s": round(clean, 1),
        "clean_build_goal_s": 480,
        "cached_rebuild_after_prose_edit_s": round(cached, 1),
        "cached_rebuild_goal_s": 30,
        "heaviest_pages_mb": {d: round(weights[d] / 1e6, 2) for d in heaviest},
        "page_goal_mb": 3.0,
    }
    out = ROOT / "bench" / "results" / "build.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
