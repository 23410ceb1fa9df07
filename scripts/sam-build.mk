# What `sam build` runs for each function and layer (BuildMethod: makefile in template.yml): the Makefile in
# the resource's CodeUri/ContentUri folder includes this file and names its build-<LogicalId> target, which
# calls $(SAM_BUILD) <LogicalId>. That runs the project's own build (watchlist_workstation/deploy/build.py:
# layers, function folders, import check, size check), the one `make build` and make-infra run, and copies
# the resource's folder into SAM's $(ARTIFACTS_DIR). No Docker, and no Python 3.13 on PATH: the deps layer
# gets Lambda's wheels from pip --platform. docs/deploying.md shows the flow.

# SAM hands make the Makefile's real path (--makefile), so the project root is found from this file, not
# from the working directory (SAM's scratch copy of the folder).
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
# The interpreter that runs the build: the project's venv (`make install`), unless the caller names one.
BUILD_PYTHON ?= $(ROOT)/.venv/bin/python
ARTIFACTS_DIR ?=

SAM_BUILD = @test -n "$(ARTIFACTS_DIR)" || { echo "sam-build: ARTIFACTS_DIR is not set; run this through 'sam build'" >&2; exit 1; }; \
	test -x "$(BUILD_PYTHON)" || { echo "sam-build: $(BUILD_PYTHON) not found; run 'make install' in $(ROOT) first" >&2; exit 1; }; \
	cd "$(ROOT)" && "$(BUILD_PYTHON)" -m watchlist_workstation.deploy.sam_build --artifacts-dir "$(ARTIFACTS_DIR)"
