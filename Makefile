# The two commands of the README's quick start:
#   make book   builds the website into _build/html
#   make test   runs every test: the lab's unit tests, every notebook executed, the book built strictly
# Both create the virtual environment .venv on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The book is built and tested with this torch. Installed first, it satisfies requirements.txt's
# range, so pip installs no other build. Override with e.g. `make test TORCH=torch`.
TORCH  ?= torch==2.13.0

.PHONY: book test unit clean

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check "$(TORCH)"
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt -e .
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
	$(BIN)/python -m pytest -m "not book"

clean:
	rm -rf _build
