# The two commands of the README's quick start:
#   make book   builds the website into _build/html
#   make test   runs every test: the lab's unit tests, every notebook executed, the book built strictly
# Both create the virtual environment .venv on first use. For instructors:
#   make assignments   runs otter assign on every master in assignments/ into _build/assignments/<name>/

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The book is built and tested with this torch. Installed first, it satisfies requirements.txt's
# range, so pip installs no other build. Override with e.g. `make test TORCH=torch`.
TORCH  ?= torch==2.13.0

.PHONY: book test unit assignments clean

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check "$(TORCH)"
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt -e ".[assignments]"
	touch $@

# DLOPT_LAB_STRICT=1: a solution whose exercise check fails breaks the build.
# DLOPT_LAB_PROGRESS=0: no progress bars baked into the static pages.
# OMP_WAIT_POLICY=passive: idle torch threads sleep instead of spinning; on a busy machine
# spinning threads made small torch operations up to ~50x slower.
BUILD_ENV := DLOPT_LAB_STRICT=1 DLOPT_LAB_PROGRESS=0 OMP_WAIT_POLICY=passive

book: $(VENV)/.installed
	$(BUILD_ENV) $(BIN)/jupyter-book build .
	@echo
	@echo "The book is in _build/html: open file://$(CURDIR)/_build/html/index.html"

test: $(VENV)/.installed
	$(BIN)/python -m pytest

unit: $(VENV)/.installed
	$(BIN)/python -m pytest -m "not book and not assignments and not colab"

# Each master notebook -> _build/assignments/<name>/student/ (hand this out) and autograder/ (the
# zip that python -m dlopt_lab.grading grades with, and the solutions). otter assign also runs the
# tests against the solutions, so a broken master stops here.
MASTERS := $(wildcard assignments/*.ipynb)

assignments: $(VENV)/.installed
	@for master in $(MASTERS); do \
	  name=$$(basename $$master .ipynb); out=_build/assignments/$$name; \
	  echo "otter assign $$master -> $$out"; rm -rf $$out; \
	  OMP_WAIT_POLICY=passive $(BIN)/python -m otter assign $$master $$out || exit 1; \
	done

clean:
	rm -rf _build
