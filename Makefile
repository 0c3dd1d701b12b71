# modelfleet: `make demo` shows the main job, `make test` runs every test tier.
# Each target sets itself up (virtualenv, installs) from a fresh clone.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test unit lint crds venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check --quiet --upgrade pip
	$(BIN)/pip install --disable-pip-version-check --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

## The offline part of the main job: CRD, validation, sizing plans.
demo: $(STAMP)
	@bash scripts/demo.sh

## Every test tier (unit, schema, layers, control plane, engine).
test: $(STAMP) lint
	$(BIN)/pytest

## Layer contracts (DESIGN.md) and the committed CRD.
lint: $(STAMP)
	$(BIN)/lint-imports --config .importlinter

## Regenerate crds/ from the pydantic models.
crds: $(STAMP)
	$(BIN)/modelfleet crd > crds/modelfleet.io_llmdeployments.yaml

unit: $(STAMP)
	$(BIN)/pytest tests/unit

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
