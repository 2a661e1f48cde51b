# One target per habit. Every target installs what it needs first, so a fresh clone works.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell scripts/find-python312)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
SAM_VENV := .tools/sam
SAM := $(SAM_VENV)/bin/sam
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: help install dev test bench lint format openapi validate build deploy clean layer-requirements chromium

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

# functions/*/: the functions' editable install puts each function's folder on the path
# (functions/hatch_build.py), so a new function's folder needs a reinstall.
$(INSTALLED): requirements/dev.txt constraints.txt layers/common/pyproject.toml dev/pyproject.toml \
		functions/pyproject.toml functions/hatch_build.py $(wildcard functions/*/)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -r requirements/dev.txt -e layers/common -e dev -e functions
	touch $@

install: $(INSTALLED)  ## create .venv with the layer and the functions (editable) and the dev tools

dev: $(INSTALLED)  ## the whole system on loopback: API on 127.0.0.1:3000 (Ctrl-C stops it)
	$(BIN)/python -m devstack

chromium:  ## Debian's chromium for the browser tests (apt-get, as root), unless it is there
	scripts/ensure-chromium

test: $(INSTALLED) build chromium  ## build the Lambda artefacts, then run the whole test suite on them too
	$(BIN)/pytest -n auto --dist worksteal

bench: $(INSTALLED) build  ## measure cold starts (from the build), renewal throughput and cost, API latency; rewrites docs/performance.md
	$(BIN)/python -m bench

lint: $(INSTALLED)  ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(INSTALLED)  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# PYTHONPATH: the handlers' packages by the names Lambda imports them by (functions/<name>/).
openapi: $(INSTALLED)  ## rewrite docs/openapi.json, the API's contract, from the handlers' routes
	$(BIN)/python -m devstack.openapi

$(SAM): requirements/sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet -r requirements/sam.txt
	touch $@

validate: $(SAM)  ## sam validate --lint (cfn-lint)
	$(SAM) validate --lint

LAYER_REQUIREMENTS := layers/common/requirements.txt
$(LAYER_REQUIREMENTS): layers/common/pyproject.toml scripts/layer_requirements.py
	$(PYTHON) scripts/layer_requirements.py

layer-requirements: $(LAYER_REQUIREMENTS)  ## write the layer's requirements.txt from its pyproject.toml

# The bytecode of every module, compiled by the runtime's Python into the artefact: Lambda's file
# system is read-only, so without it every cold start compiles every module it imports. Hash-based
# and unchecked, because sam deploy zips every file dated 1980 (a timestamp would never match).
build: $(SAM) $(LAYER_REQUIREMENTS)  ## sam build into .aws-sam/build (with the python3.12 found for the venv), then its bytecode
	PATH="$(dir $(PYTHON)):$$PATH" $(SAM) build
	$(PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build

STAGE ?= dev
deploy: build $(INSTALLED)  ## sam deploy the build to STAGE=dev|prod, then the billing page (AWS credentials needed; docs/deploy.md)
	$(SAM) deploy --config-env $(STAGE)
	$(BIN)/python scripts/deploy_portal.py --config-env $(STAGE)

clean:  ## remove the virtual environments and build output
	rm -rf $(VENV) .tools .aws-sam .devstack .pytest_cache .mypy_cache .ruff_cache .hypothesis
