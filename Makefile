# TrailGuard. `make help` lists the targets. Both environments install themselves on first use.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.13 2>/dev/null || command -v python3)
VENV := .venv
TOOLS := .venv-tools
CHECKOV := .venv-checkov
PY := $(VENV)/bin/python
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= eu-west-1
FUNCTIONS := $(wildcard functions/*/app.py)

.DEFAULT_GOAL := help
.PHONY: help install test lint typecheck validate unit demo bench bench-peers bench-scale build lock clean docs deploy-local audit-demo
.PHONY: security

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-13s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 13), "TrailGuard needs Python 3.13 (the Lambda runtime); found " + sys.version' 
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

$(TOOLS)/.installed: requirements-tools.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check -r requirements-tools.txt
	@touch $@

# checkov pins its own boto3 and PyYAML: a third environment, apart from the runtime's and SAM's.
$(CHECKOV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV)
	$(CHECKOV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	@touch $@

install: $(VENV)/.installed $(TOOLS)/.installed ## Create both environments (runtime+tests, template tooling)
install: $(CHECKOV)/.installed

lint: $(VENV)/.installed ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed ## mypy (strict) on the domain package, the harness and each handler
	$(VENV)/bin/mypy layers/trailguard/trailguard harness demo bench
	@for f in $(FUNCTIONS); do $(VENV)/bin/mypy $$f || exit 1; done

validate: $(TOOLS)/.installed ## cfn-lint and sam validate --lint on the templates
	$(TOOLS)/bin/cfn-lint template.yaml templates/member.yaml
	$(TOOLS)/bin/sam validate --lint --template template.yaml --region $(AWS_DEFAULT_REGION)

# checkov reads AWS::Serverless::Function only in part: the roles, rules, permissions and schedule that the
# SAM transform generates exist only after translation. So template.yaml is checked as SAM translates it
# (offline, tools/sam_translate.py; resource Metadata, and with it each inline suppression, carries over),
# and member.yaml, plain CloudFormation, as it is.
security: $(TOOLS)/.installed $(CHECKOV)/.installed ## checkov on both templates (template.yaml as SAM translates it)
	$(TOOLS)/bin/python tools/sam_translate.py template.yaml .aws-sam/checkov/template.json
	$(CHECKOV)/bin/checkov --quiet --compact --skip-download --framework cloudformation \
		-f .aws-sam/checkov/template.json -f templates/member.yaml

unit: $(VENV)/.installed ## pytest (unit and integration, under moto)
	$(PY) -m pytest -q

test: lint typecheck validate security unit ## Everything CI runs: lint, types, template validation, tests

demo: $(VENV)/.installed ## Run TrailGuard against a simulated organization (moto), end to end
	PYTHONPATH=layers/trailguard:. $(PY) -m demo

# The peers of the benchmark, each in its own environment. A failed install is logged, not fatal: the bench
# then reports that peer as not run, with the reason, and compares the others.
PEERS := .venv-custodian .venv-prowler
$(PEERS:%=%/.installed): .venv-%/.installed: requirements-%.txt
	@rm -rf .venv-$* && $(PYTHON) -m venv .venv-$*
	@echo "Installing $* into .venv-$* (log: .venv-$*/install.log)"
	@if .venv-$*/bin/pip install --disable-pip-version-check -r $< > .venv-$*/install.log 2>&1; \
	then touch $@; else echo "$* did not install: $$(tail -n 1 .venv-$*/install.log)"; fi

# Three parts write bench/results.json, each its own keys: demo.bench, python -m bench ("peers", "verdicts",
# "coldstart") and demo.scale ("scale").
bench: $(VENV)/.installed $(PEERS:%=%/.installed) ## API calls, latency, TrailGuard beside Custodian and Prowler, then scale (bench/results.json)
	PYTHONPATH=layers/trailguard:. $(PY) -m demo.bench
	PYTHONPATH=layers/trailguard:. $(PY) -m bench
	PYTHONPATH=layers/trailguard:. $(PY) -m demo.scale $(ARGS)

bench-scale: $(VENV)/.installed ## The scale part alone: sweep, key/bucket events, memory at 100/500/1,000 accounts x 17 regions (ARGS="--accounts 100")
	PYTHONPATH=layers/trailguard:. $(PY) -m demo.scale $(ARGS)

bench-peers: $(VENV)/.installed $(PEERS:%=%/.installed) ## The peers part of make bench alone: verdicts, wall time, cold import
	PYTHONPATH=layers/trailguard:. $(PY) -m bench

audit-demo: $(VENV)/.installed ## trailguard audit on a simulated organization (moto server): audit, --fix --yes, audit again (ARGS=... for one run)
	PYTHONPATH=layers/trailguard:. $(PY) -m demo.audit $(ARGS)

docs: $(VENV)/.installed ## Render docs/checks.md and the README's table from the check registry
	PYTHONPATH=layers/trailguard:. $(PY) -m harness.docs

deploy-local: $(VENV)/.installed $(TOOLS)/.installed ## Rehearse the deploy: sam build, package, transform, both stacks on moto server, checks
	PYTHONPATH=layers/trailguard:. $(PY) -m harness.deploy_local

build: $(TOOLS)/.installed ## sam build (needs python3.13 on PATH)
	$(TOOLS)/bin/sam build --template template.yaml

lock: ## Re-pin both environments from what is installed
	{ echo "# Test, demo and runtime libraries (pinned). Regenerate with: make lock"; $(VENV)/bin/pip freeze; } > requirements-dev.txt
	{ echo "# Template tooling in its own environment: aws-sam-cli pins boto3. Regenerate with: make lock"; $(TOOLS)/bin/pip freeze; } > requirements-tools.txt
	{ echo "# checkov (make security) in its own environment: it pins boto3 and PyYAML. Regenerate with: make lock"; $(CHECKOV)/bin/pip freeze; } > requirements-checkov.txt

clean: ## Remove environments and build output
	rm -rf $(VENV) $(TOOLS) $(CHECKOV) .venv-custodian .venv-prowler .aws-sam .mypy_cache .ruff_cache .hypothesis
