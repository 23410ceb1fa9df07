# Every target but `help` and `clean` runs the tools in .venv and .tools/, which `install` creates from the
# pinned requirements; a target that needs them depends on their stamps, so a fresh clone needs nothing but
# `make test`. The app (.venv, requirements-dev.txt with constraints.txt) and each command-line tool
# (.tools/<name>/, requirements-tools/<name>.txt with its own lock) live in environments of their own, so a
# tool's pins never hold the app's back (docs/testing.md, "Environments").

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules --warn-undefined-variables

# The workstation interpreter: 3.11 where it is installed (what constraints.txt was frozen on). The suite
# also runs on Lambda's 3.13 in a venv of its own: make pytest PYTHON=python3.13 VENV=.venv-3.13 (.ci/run).
WORKSTATION_PYTHON := $(shell command -v python3.11 2>/dev/null || command -v python3)
PYTHON ?= $(WORKSTATION_PYTHON)
VENV ?= .venv
BIN := $(VENV)/bin
# Written last by `install`: newer than every requirements file means the venv is up to date.
STAMP := $(VENV)/.installed
REQUIREMENTS := requirements.txt requirements-dev.txt requirements-lambda.txt constraints.txt
# The command-line tools, one venv each under .tools/ (built with the workstation interpreter whatever PYTHON
# is): requirements-tools/<name>.txt pins the tool, requirements-tools/<name>.lock.txt everything it pulls in.
TOOLS_DIR := .tools
TOOLS := aws-sam-cli cfn-lint checkov actionlint
TOOL_STAMPS := $(TOOLS:%=$(TOOLS_DIR)/%/.installed)
SAM := $(TOOLS_DIR)/aws-sam-cli/bin/sam
TEMPLATE := template.yml
# sam validate needs a region for the transform even offline; cfn-lint and checkov do not.
REGION := us-east-1

export AWS_DEFAULT_REGION ?= $(REGION)
# No usage reports from the SAM CLI (and no network attempts for them).
export SAM_CLI_TELEMETRY := 0
# No release check against PyPI from checkov's banner (checkov is pinned; it is bumped on purpose).
export CKV_SKIP_PACKAGE_UPDATE_CHECK := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# sam validate looks for credentials; without any, botocore would ask the EC2 instance metadata
# service, which is neither here nor wanted. Nothing in lint or test talks to a real account.
export AWS_EC2_METADATA_DISABLED ?= true

.PHONY: help install lint check test pytest build bench soak demo screenshot deploy teardown clean constraints locks

help: ## list the targets
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install: $(STAMP) $(TOOL_STAMPS) ## create .venv (requirements-dev.txt with constraints.txt) and each tool's venv in .tools/ (skipped when up to date)

# pip itself comes from constraints.txt too, so every machine resolves with the same pip.
$(STAMP): $(REQUIREMENTS)
	@test -n "$(PYTHON)" || { echo "install: neither python3.11 nor python3 is on PATH" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade -c constraints.txt pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	$(BIN)/python -m pip check
	touch $@

$(TOOLS_DIR)/%/.installed: requirements-tools/%.txt requirements-tools/%.lock.txt
	@test -n "$(WORKSTATION_PYTHON)" || { echo "install: neither python3.11 nor python3 is on PATH" >&2; exit 1; }
	test -x $(TOOLS_DIR)/$*/bin/python || $(WORKSTATION_PYTHON) -m venv $(TOOLS_DIR)/$*
	$(TOOLS_DIR)/$*/bin/python -m pip install --quiet --upgrade -c requirements-tools/$*.lock.txt pip
	$(TOOLS_DIR)/$*/bin/python -m pip install --quiet -r requirements-tools/$*.txt -c requirements-tools/$*.lock.txt
	$(TOOLS_DIR)/$*/bin/python -m pip check
	touch $@

# Shell for `lint` and `check`: each step runs whatever the others did, and the failed ones are collected
# in `failed`, named at the end.
STEP = failed=(); step() { local name=$$1; shift; printf '\n== %s\n' "$$name"; "$$@" || failed+=("$$name"); };
LINT_STEPS = \
	step "ruff check" $(BIN)/ruff check .; \
	step "ruff format" $(BIN)/ruff format --check .; \
	step "cfn-lint" $(TOOLS_DIR)/cfn-lint/bin/cfn-lint $(TEMPLATE); \
	step "sam validate" $(SAM) validate --region $(REGION) --template-file $(TEMPLATE); \
	step "sam validate --lint" $(SAM) validate --lint --region $(REGION) --template-file $(TEMPLATE); \
	step "checkov" $(TOOLS_DIR)/checkov/bin/checkov --file $(TEMPLATE) --framework cloudformation --quiet --compact --skip-download; \
	step "actionlint" $(TOOLS_DIR)/actionlint/bin/actionlint .github/workflows/*.yml;
FAILED_IF_ANY = if (( $${\#failed[@]} )); then printf '\n%s failed: %s\n' "$@" "$$(IFS=,; echo "$${failed[*]}")" >&2; exit 1; fi; \
	printf '\n%s: all clean\n' "$@"

lint: $(STAMP) $(TOOL_STAMPS) ## ruff check + format --check, cfn-lint, sam validate (plain and --lint), checkov, actionlint; runs all, fails if any failed
	@$(STEP) $(LINT_STEPS) $(FAILED_IF_ANY)

# The unit tests: every test but those that start a server or another process (the `servers` marker, which
# tests/conftest.py applies from the fixtures a test uses and enforces: an unmarked test that binds a socket
# or starts a process fails) and those that need PyPI (`network`).
UNIT_TESTS := not servers and not network

check: $(STAMP) $(TOOL_STAMPS) ## lint, then the unit tests (no servers, no processes, no network) in parallel: about a minute at most
	@$(STEP) $(LINT_STEPS) \
	step "unit tests" $(BIN)/pytest -n auto -m "$(UNIT_TESTS)"; \
	$(FAILED_IF_ANY)

# pytest exits 5 when it collects no test; make passes any non-zero status on, so that fails too.
test: lint pytest ## lint, then every test in tests/ (installs first if needed)

# The suite without the linters: what .ci/run runs a second time on Python 3.13, in a venv of its own (the
# linters check files, not the interpreter, so once is enough). Tests that run a tool use .tools/.
pytest: $(STAMP) $(TOOL_STAMPS) ## every test in tests/, no lint (PYTHON=... VENV=... for another interpreter)
	$(BIN)/pytest -n auto

build: $(STAMP) ## layers, function folders and build/template.yml for sam deploy; prints sizes vs Lambda's limit
	scripts/2-build-layers.sh

# Each bench writes its figures, targets and verdict to build/bench/<name>.json (--json-out), beside the
# build's size report and the cost estimate; bench/report.py makes one table of them. The folder is emptied
# first, so a bench that dies cannot leave an older run's figures in the table. bench/load_faults.py is a
# soak with no figure in the table: `make soak` runs it; bench/dataset_seed.py and bench/dataset_baseline.py
# are parts of bench/dataset.py. Benches are modules of the bench package, run from the repository root with `python -m bench.<name>` so they import the project as its own code does.
bench: $(STAMP) ## build, run every benchmark in bench/, then one table of the figures against the prototype's (also build/bench/report.md); fails if any misses its target
	@shopt -s nullglob; failed=(); out=build/bench; rm -rf "$$out"; mkdir -p "$$out"; \
	printf '\n== build (sizes to %s)\n' "$$out/build.json"; scripts/2-build-layers.sh --json > "$$out/build.json" || failed+=(build); \
	benches=(); for bench in bench/*.py; do case $${bench##*/} in __init__.py|report.py|load_faults.py|dataset_seed.py|dataset_baseline.py) ;; *) benches+=("$$bench") ;; esac; done; \
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

deploy: $(STAMP) $(TOOLS_DIR)/aws-sam-cli/.installed ## build, ensure the artifact bucket, sam deploy, print the outputs (PARAMS="K=V ...", CFCLI_STACK_NAME)
	$(ACCOUNT_ENV) scripts/3-deploy.sh $(foreach param,$(PARAMS),--parameter $(param))

teardown: $(STAMP) ## delete the stack and everything it created (YES=1 to skip the prompt; CFCLI_STACK_NAME)
	$(ACCOUNT_ENV) scripts/5-cleanup.sh $(if $(YES),--yes)

clean: ## remove build/ and tool caches (keeps .venv and .tools; rm -rf them for a fresh install)
	rm -rf build .aws-sam .pytest_cache .ruff_cache
	find . \( -path ./$(VENV) -o -path ./$(TOOLS_DIR) \) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

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

# One lock per tool, made the way constraints.txt is: a fresh venv installs the tool unconstrained, and its
# pip freeze --all becomes requirements-tools/<name>.lock.txt. Run after bumping a pin in requirements-tools/.
locks: ## regenerate requirements-tools/*.lock.txt: per tool, a fresh venv, its pin unconstrained, pip freeze --all
	@test -n "$(WORKSTATION_PYTHON)" || { echo "locks: neither python3.11 nor python3 is on PATH" >&2; exit 1; }
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	for tool in $(TOOLS); do \
		$(WORKSTATION_PYTHON) -m venv "$$tmp/$$tool"; \
		"$$tmp/$$tool/bin/python" -m pip install --quiet --upgrade pip; \
		"$$tmp/$$tool/bin/python" -m pip install --quiet -r "requirements-tools/$$tool.txt"; \
		"$$tmp/$$tool/bin/python" -m pip check; \
		{ echo "# Generated by 'make locks' with $$("$$tmp/$$tool/bin/python" -V) on $$(uname -m): the pip freeze --all of a"; \
		  echo "# fresh venv that installed requirements-tools/$$tool.txt. Do not edit by hand; change that file and rerun."; \
		  "$$tmp/$$tool/bin/python" -m pip freeze --all; } > "requirements-tools/$$tool.lock.txt.new"; \
		mv "requirements-tools/$$tool.lock.txt.new" "requirements-tools/$$tool.lock.txt"; \
	done
	@echo "requirements-tools/*.lock.txt regenerated; review 'git diff requirements-tools'"
