"""Run one book notebook as a new Colab user would: run by ``tests/test_colab.py`` with the
Python of a Colab-like virtual environment (no dlopt_lab installed in it).

Usage: python colab_runner.py NOTEBOOK INSTALL_SPEC OUT_NOTEBOOK

The setup cell installs ``dlopt-lab @ git+{REPO}`` on Colab; here the spec is replaced by
INSTALL_SPEC (a wheel built from this checkout) and nothing else in the notebook changes.
"""

import sys
import time

import nbformat
from nbclient import NotebookClient

COLAB_SPEC = 'f"dlopt-lab @ git+{REPO}"'


def main() -> None:
    src, spec, out = sys.argv[1:4]
    nb = nbformat.read(src, as_version=4)
    setup = nb.cells[1]
    if "setup" not in setup.metadata.get("tags", []) or setup.source.count(COLAB_SPEC) != 1:
        sys.exit(f"{src}: the second cell is not the setup cell that installs {COLAB_SPEC}")
    setup.source = setup.source.replace(COLAB_SPEC, repr(spec))
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=False).execute()
    nbformat.write(nb, out)
    print(f"{time.perf_counter() - start:.1f}")


if __name__ == "__main__":
    main()
