# The README's commands. Each creates .venv from requirements.lock with pip when it is missing.
PYTHON ?= python3
# Where torch comes from: `pypi` (CUDA on Linux, MPS on Apple silicon, CPU on Windows) or `cpu`
# (PyTorch's CPU-only wheels, without the CUDA libraries: `make demo TORCH=cpu`). Switching an
# existing .venv needs `rm -r .venv` first.
TORCH ?= pypi
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-lock
CORES ?= 2

ifeq ($(TORCH),pypi)
LOCK_FILTER := cat
PIP_TORCH :=
else ifeq ($(TORCH),cpu)
# Leaves out the packages only torch's CUDA wheels need (tests/test_packaging.py checks which).
LOCK_FILTER := grep -v -E '^(nvidia-|cuda-|triton==)'
PIP_TORCH := --extra-index-url https://download.pytorch.org/whl/cpu
else
$(error TORCH must be pypi or cpu, not '$(TORCH)')
endif

# The tests that need nothing beyond .venv: no Snakemake, no network, no root or apt, no compiler
# (pyproject.toml's markers).
FAST := not workflow and not network and not root and not compiler
# pytest keeps its assertion-rewritten test modules as .pyc files, which PYTHONDONTWRITEBYTECODE
# forbids: the controller and every worker would rewrite them all again (seconds each).
PYTEST := env -u PYTHONDONTWRITEBYTECODE PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest
# pytest-xdist: a worker per core, each handed a test module at a time (a module's fixtures are
# built once), in the order of tests/conftest.py: the modules of the longest tests first.
XDIST := -n $(CORES) --dist loadscope --no-loadscope-reorder

.PHONY: demo test test-fast coverage lint lock readme bytecode

# The lock's packages for this TORCH.
$(VENV)/requirements-$(TORCH).txt: requirements.lock
	mkdir -p $(VENV)
	$(LOCK_FILTER) requirements.lock > $@

$(STAMP): $(VENV)/requirements-$(TORCH).txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(PIP_TORCH) -r $<
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# hgad's modules byte-compiled once (compileall writes .pyc files even where
# PYTHONDONTWRITEBYTECODE is set): every job of a run is a new interpreter that imports them,
# and would otherwise compile them again (most of a second each).
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q hgad

demo: bytecode
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/snakemake --lint --configfile config/demo.yaml

test: lint bytecode
	scripts/install-system-deps.sh
	$(PYTEST) $(XDIST)

# The one-minute loop for every edit.
test-fast: bytecode
	$(PYTEST) $(XDIST) -m "$(FAST)"

# Line coverage of hgad/ per module, for test-fast's tests and then for make test's (in the
# pytest process: the workflow's jobs run in their own processes and are not counted).
coverage: bytecode
	$(PYTEST) $(XDIST) -q -m "$(FAST)" --cov --cov-report=term
	scripts/install-system-deps.sh
	$(PYTEST) $(XDIST) -q --cov --cov-report=term

# Rewrite the README's results section from a run's tables (`make readme CONFIG=config/config.yaml`).
CONFIG ?= config/demo.yaml
readme: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG) \
	  --forcerun readme readme

# Regenerate requirements.lock from pyproject.toml, and environment.yml from it (uv, PyPI).
lock: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/lock.sh
