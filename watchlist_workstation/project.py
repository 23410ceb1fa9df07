"""Where the project's files are, and where the CLI keeps what it makes.

ROOT holds what the CLI reads: template.yml, the function folders, lib/ and the sample data/. From a
checkout that is the checkout. An installed CLI (`pipx install .`) carries a copy of them inside this
package, in `_project/` (pyproject.toml puts them there), so `cfcli` works from any folder.

WORK_DIR is where the CLI writes: build/, the artifact bucket records (.cfcli/), local mode's state
(.local-state/) and its results mirror (local-results/). From a checkout, the checkout (as always);
installed, $CFCLI_HOME, else $XDG_STATE_HOME/cfcli (~/.local/state/cfcli), never site-packages.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_BUNDLED = PACKAGE_DIR / "_project"
INSTALLED = (_BUNDLED / "template.yml").is_file()
ROOT = _BUNDLED if INSTALLED else PACKAGE_DIR.parent

TEMPLATE = ROOT / "template.yml"
DATA_DIR = ROOT / "data"
COMPANIES_DIR = DATA_DIR / "companies"
SAMPLE_WATCHLIST = DATA_DIR / "watchlist.txt"
LAMBDA_REQUIREMENTS = ROOT / "requirements-lambda.txt"
# The command-line tools' venvs in a checkout, one per tool (`make install`, the Makefile's TOOLS_DIR):
# aws-sam-cli, cfn-lint, checkov, actionlint (docs/testing.md, "Environments").
TOOLS_DIR = ROOT / ".tools"


def tool_path(venv: str, command: str) -> Path:
    """A command of one of the tools' venvs, e.g. tool_path("aws-sam-cli", "sam")."""
    return TOOLS_DIR / venv / "bin" / command


def work_dir() -> Path:
    """The folder the CLI writes into (see the module docstring); read when asked, so tests can set it."""
    if not INSTALLED:
        return ROOT
    if os.environ.get("CFCLI_HOME"):
        return Path(os.environ["CFCLI_HOME"])
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "cfcli"


def import_path() -> str:
    """PYTHONPATH for a child process that must import both lib and watchlist_workstation: ROOT (lib), and
    the folder holding this package (the checkout, or the environment's site-packages when installed)."""
    return os.pathsep.join(dict.fromkeys([str(ROOT), str(PACKAGE_DIR.parent)]))


def local_results_dir() -> Path:
    """Where local mode mirrors the results dataset unless told otherwise (`--results-dir`)."""
    return work_dir() / "local-results"
