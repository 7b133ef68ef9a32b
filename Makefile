# The two commands of the README. Each creates .venv from requirements.lock when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-lock
CORES ?= 2

.PHONY: demo test lint lock readme

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/snakemake --lint --configfile config/demo.yaml

test: lint
	scripts/install-system-deps.sh
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest

# Rewrite the README's results section from a run's tables (`make readme CONFIG=config/config.yaml`).
CONFIG ?= config/demo.yaml
readme: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG) \
	  --forcerun readme readme

# Regenerate the lock file and environment.yml from the current environment.
lock: $(STAMP)
	{ echo "# Exact versions of every dependency (pip freeze of .venv); 'make lock' regenerates."; \
	  $(BIN)/python -m pip freeze --exclude-editable; } > requirements.lock
	{ echo "# Conda environment with the versions of requirements.lock ('make lock' regenerates)."; \
	  echo "name: hgad-bench"; echo "channels: [conda-forge]"; echo "dependencies:"; \
	  echo "  - python=3.11"; echo "  - pip"; echo "  - pip:"; \
	  sed -n 's/^\([^#].*==.*\)$$/      - \1/p' requirements.lock; } > environment.yml
