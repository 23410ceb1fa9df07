# Every target but `help` and `clean` runs the tools in .venv, which `install` creates from the
# pinned requirements; a target that needs the venv depends on its stamp, so a fresh clone needs
# nothing but `make test`.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules --warn-undefined-variables

# The workstation interpreter: 3.11 where it is installed (what constraints.txt was frozen on).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Written last by `install`: newer than every requirements file means the venv is up to date.
STAMP := $(VENV)/.installed
REQUIREMENTS := requirements.txt requirements-dev.txt requirements-lambda.txt constraints.txt
TEMPLATE := template.yml
# sam validate needs a region for the transform even offline; cfn-lint and checkov do not.
REGION := us-east-1

export AWS_DEFAULT_REGION ?= $(REGION)
# No usage reports from the SAM CLI (and no network attempts for them).
export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# sam validate looks for credentials; without any, botocore would ask the EC2 instance metadata
# service, which is neither here nor wanted. Nothing in lint or test talks to a real account.
export AWS_EC2_METADATA_DISABLED ?= true

.PHONY: help install lint check test build bench soak demo screenshot deploy teardown clean constraints

help: ## list the targets
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv and install requirements-dev.txt with constraints.txt (skipped when up to date)

# pip itself comes from constraints.txt too, so every machine resolves with the same pip.
$(STAMP): $(REQUIREMENTS)
	@test -n "$(PYTHON)" || { echo "install: neither python3.11 nor python3 is on PATH" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade -c constraints.txt pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	$(BIN)/python -m pip check
	touch $@

# Shell for `lint` and `check`: each step runs whatever the others did, and the failed ones are collected
# in `failed`, named at the end.
STEP = failed=(); step() { local name=$$1; shift; printf '\n== %s\n' "$$name"; "$$@" || failed+=("$$name"); };
LINT_STEPS = \
	step "ruff check" $(BIN)/ruff check .; \
	step "ruff format" $(BIN)/ruff format --check .; \
	step "cfn-lint" $(BIN)/cfn-lint $(TEMPLATE); \
	step "sam validate" $(BIN)/sam validate --region $(REGION) --template-file $(TEMPLATE); \
	step "sam validate --lint" $(BIN)/sam validate --lint --region $(REGION) --template-file $(TEMPLATE); \
	step "checkov" $(BIN)/checkov --file $(TEMPLATE) --framework cloudformation --quiet --compact --skip-download; \
	step "actionlint" $(BIN)/actionlint .github/workflows/*.yml;
FAILED_IF_ANY = if (( $${\#failed[@]} )); then printf '\n%s failed: %s\n' "$@" "$$(IFS=,; echo "$${failed[*]}")" >&2; exit 1; fi; \
	printf '\n%s: all clean\n' "$@"

lint: $(STAMP) ## ruff check + format --check, cfn-lint, sam validate (plain and --lint), checkov, actionlint; runs all, fails if any failed
	@$(STEP) $(LINT_STEPS) $(FAILED_IF_ANY)

# The unit tests: every test but those that start a server or another process (the `servers` marker, which
# tests/conftest.py applies from the fixtures a test uses and enforces: an unmarked test that binds a socket
# or starts a process fails) and those that need PyPI (`network`).
UNIT_TESTS := not servers and not network

check: $(STAMP) ## lint, then the unit tests (no servers, no processes, no network) in parallel: about a minute at most
	@$(STEP) $(LINT_STEPS) \
	step "unit tests" $(BIN)/pytest -n auto -m "$(UNIT_TESTS)"; \
	$(FAILED_IF_ANY)

# pytest exits 5 when it collects no test; make passes any non-zero status on, so that fails too.
test: lint ## lint, then every test in tests/ (installs first if needed)
	$(BIN)/pytest -n auto

build: $(STAMP) ## layers, function folders and build/template.yml for sam deploy; prints sizes vs Lambda's limit
	scripts/2-build-layers.sh

# Each bench writes its figures, targets and verdict to build/bench/<name>.json (--json-out), beside the
# build's size report and the cost estimate; bench/report.py makes one table of them. The folder is emptied
# first, so a bench that dies cannot leave an older run's figures in the table. bench/load_faults.py is a
# soak with no figure in the table: `make soak` runs it. Benches are modules of the bench package, run from
# the repository root with `python -m bench.<name>` so they import the project as its own code does.
bench: $(STAMP) ## build, run every benchmark in bench/, then one table of the figures against the prototype's (also build/bench/report.md); fails if any misses its target
	@shopt -s nullglob; failed=(); out=build/bench; rm -rf "$$out"; mkdir -p "$$out"; \
	printf '\n== build (sizes to %s)\n' "$$out/build.json"; scripts/2-build-layers.sh --json > "$$out/build.json" || failed+=(build); \
	benches=(); for bench in bench/*.py; do case $${bench##*/} in __init__.py|report.py|load_faults.py) ;; *) benches+=("$$bench") ;; esac; done; \
	(( $${#benches[@]} )) || { echo "bench: no bench/*.py" >&2; exit 1; }; \
	for bench in "$${benches[@]}"; do printf '\n== %s\n' "$$bench"; name=$${bench##*/}; \
		$(BIN)/python -m "bench.$${name%.py}" --json-out "$$out/$${name%.py}.json" || failed+=("$$bench"); done; \
	printf '\n== cost\n'; $(BIN)/python cfcli.py cost --companies 1000 --compare-prototype --json > "$$out/cost.json" || failed+=(cost); \
	printf '\n== bench/report.py\n'; $(BIN)/python -m bench.report --dir "$$out" --markdown-out "$$out/report.md" || failed+=(bench/report.py); \
	if (( $${#failed[@]} )); then echo "bench failed: $${failed[*]}" >&2; exit 1; fi

soak: $(STAMP) ## 10,000 companies through local mode, 5% of their pages faulted (absorbed, redelivered, poison, permanent); fails if one is lost, duplicated or ends elsewhere than its chunk's faults say (about 11 minutes)
	$(BIN)/python -m bench.load_faults

demo: $(STAMP) ## the whole pipeline on this machine, offline: one schedule tick, drained, results shown
	$(BIN)/python cfcli.py local run --once

screenshot: $(STAMP) ## the dashboard screenshots in docs/cli.md (docs/dashboard*.png), taken by the browser test
	TEST_ARTIFACTS_DIR=docs $(BIN)/pytest tests/test_dashboard_browser.py -q

# deploy and teardown talk to the caller's real account. The two defaults above exist for the offline
# tools; unless the caller set them, they are dropped here so the profile's region and an instance
# role still apply, instead of a silent us-east-1 and "no credentials".
ACCOUNT_ENV = env $(if $(filter file,$(origin AWS_DEFAULT_REGION)),-u AWS_DEFAULT_REGION) \
	$(if $(filter file,$(origin AWS_EC2_METADATA_DISABLED)),-u AWS_EC2_METADATA_DISABLED)
# make deploy PARAMS="NotificationEmail=you@example.com UserAgentContact=https://your.site"  (values without spaces)
PARAMS ?=
# make teardown YES=1  deletes without asking (the prompt needs a terminal)
YES ?=

deploy: $(STAMP) ## build, ensure the artifact bucket, sam deploy, print the outputs (PARAMS="K=V ...", CFCLI_STACK_NAME)
	$(ACCOUNT_ENV) scripts/3-deploy.sh $(foreach param,$(PARAMS),--parameter $(param))

teardown: $(STAMP) ## delete the stack and everything it created (YES=1 to skip the prompt; CFCLI_STACK_NAME)
	$(ACCOUNT_ENV) scripts/5-cleanup.sh $(if $(YES),--yes)

clean: ## remove build/ and tool caches (keeps .venv; rm -rf .venv for a fresh install)
	rm -rf build .aws-sam .pytest_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

constraints: ## regenerate constraints.txt: fresh venv, requirements-dev.txt unconstrained, pip freeze --all
	@test -n "$(PYTHON)" || { echo "constraints: neither python3.11 nor python3 is on PATH" >&2; exit 1; }
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install --quiet --upgrade pip; \
	"$$tmp/venv/bin/python" -m pip install --quiet -r requirements-dev.txt; \
	"$$tmp/venv/bin/python" -m pip check; \
	{ echo "# Generated by 'make constraints' with $$("$$tmp/venv/bin/python" -V) on $$(uname -m): the pip freeze --all of a"; \
	  echo "# fresh venv that installed requirements-dev.txt. Do not edit by hand; change a requirements file and rerun."; \
	  "$$tmp/venv/bin/python" -m pip freeze --all; } > constraints.txt.new; \
	mv constraints.txt.new constraints.txt
	@echo "constraints.txt regenerated; review 'git diff constraints.txt'"
