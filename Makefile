# TrailGuard. `make help` lists the targets. Both environments install themselves on first use.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.13 2>/dev/null || command -v python3)
VENV := .venv
TOOLS := .venv-tools
PY := $(VENV)/bin/python
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= eu-west-1
FUNCTIONS := $(wildcard functions/*/app.py)

.DEFAULT_GOAL := help
.PHONY: help install test lint typecheck validate unit demo bench bench-peers build lock clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 13), "TrailGuard needs Python 3.13 (the Lambda runtime); found " + sys.version' 
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

$(TOOLS)/.installed: requirements-tools.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check -r requirements-tools.txt
	@touch $@

install: $(VENV)/.installed $(TOOLS)/.installed ## Create both environments (runtime+tests, template tooling)

lint: $(VENV)/.installed ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed ## mypy (strict) on the domain package, the harness and each handler
	$(VENV)/bin/mypy layers/trailguard/trailguard harness demo
	@for f in $(FUNCTIONS); do $(VENV)/bin/mypy $$f || exit 1; done

validate: $(TOOLS)/.installed ## cfn-lint and sam validate --lint on the templates
	$(TOOLS)/bin/cfn-lint template.yaml templates/member.yaml
	$(TOOLS)/bin/sam validate --lint --template template.yaml --region $(AWS_DEFAULT_REGION)

unit: $(VENV)/.installed ## pytest (unit and integration, under moto)
	$(PY) -m pytest -q

test: lint typecheck validate unit ## Everything CI runs: lint, types, template validation, tests

demo: $(VENV)/.installed ## Run TrailGuard against a simulated organization (moto), end to end
	PYTHONPATH=layers/trailguard:. $(PY) -m demo

bench: $(VENV)/.installed ## Print API calls per event, cold-start import time and handler latency
	PYTHONPATH=layers/trailguard:. $(PY) -m demo.bench

# The peers of bench-peers, each in its own environment. A failed install is logged, not fatal: the bench
# then reports that peer as not run, with the reason, and compares the others.
PEERS := .venv-custodian .venv-prowler
$(PEERS:%=%/.installed): .venv-%/.installed: requirements-%.txt
	@rm -rf .venv-$* && $(PYTHON) -m venv .venv-$*
	@echo "Installing $* into .venv-$* (log: .venv-$*/install.log)"
	@if .venv-$*/bin/pip install --disable-pip-version-check -r $< > .venv-$*/install.log 2>&1; \
	then touch $@; else echo "$* did not install: $$(tail -n 1 .venv-$*/install.log)"; fi

bench-peers: $(VENV)/.installed $(PEERS:%=%/.installed) ## TrailGuard beside Cloud Custodian and Prowler: verdicts, wall time, cold import
	PYTHONPATH=layers/trailguard:. $(PY) -m bench

build: $(TOOLS)/.installed ## sam build (needs python3.13 on PATH)
	$(TOOLS)/bin/sam build --template template.yaml

lock: ## Re-pin both environments from what is installed
	{ echo "# Test, demo and runtime libraries (pinned). Regenerate with: make lock"; $(VENV)/bin/pip freeze; } > requirements-dev.txt
	{ echo "# Template tooling in its own environment: aws-sam-cli pins boto3. Regenerate with: make lock"; $(TOOLS)/bin/pip freeze; } > requirements-tools.txt

clean: ## Remove environments and build output
	rm -rf $(VENV) $(TOOLS) .aws-sam .mypy_cache .ruff_cache .hypothesis
