"""The installable CLI: the wheel `pipx install .` builds, unpacked and run from outside the checkout.

The wheel is built by pip with the project's build backend (from PyPI, hence the network marker). It is
then unpacked into a folder of its own and run with this venv's interpreter (which has the pinned
dependencies) from a folder that is not the checkout, so only what the wheel carries is importable.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

# It builds a wheel and installs it (pip starts processes; the build backend comes from PyPI).
pytestmark = [pytest.mark.network, pytest.mark.servers]

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(REPO)],
        check=True,
        capture_output=True,
        text=True,
    )
    (built,) = out.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target


def cfcli(installed: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the wheel's `cfcli` entry point from `cwd`, with only the unpacked wheel and the venv importable."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CFCLI_LOCAL_STATE_DIR")}
    env.update(PYTHONPATH=str(installed), CFCLI_HOME=str(cwd / "home"), AWS_EC2_METADATA_DISABLED="true")
    code = "from watchlist_workstation.cli.main import main; main(prog_name='cfcli')"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )


def test_the_wheel_claims_one_top_level_name_and_carries_the_project(wheel):
    # GIVEN the wheel / THEN its only package is watchlist_workstation; lib, the template, the handlers
    # and the sample data travel inside it, and the entry point is cfcli
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"watchlist_workstation"}
    bundled = "watchlist_workstation/_project/"
    shipped = sorted(
        p.relative_to(REPO).as_posix() for p in (REPO / "lib").rglob("*.py") if "__pycache__" not in p.parts
    )
    assert sorted(n[len(bundled) :] for n in names if n.startswith(bundled + "lib/")) == shipped
    for part in ("template.yml", "ddb_ops.py", "ProducerAI/lambda_function.py", "data/watchlist.txt"):
        assert bundled + part in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "cfcli = watchlist_workstation.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_the_installed_cli_answers_help_and_cost_outside_the_checkout(installed, tmp_path):
    # WHEN the installed CLI runs from a folder that is not the checkout
    helped = cfcli(installed, tmp_path, "--help")
    priced = cfcli(installed, tmp_path, "cost", "--companies", "1000", "--json")
    # THEN it lists the same commands as ./cfcli.py, and prices the template it carries
    assert helped.returncode == 0, helped.stderr
    for command in ("add", "cost", "local", "make-infra", "results", "serve", "teardown"):
        assert f"  {command} " in helped.stdout
    assert priced.returncode == 0, priced.stderr
    assert '"companies": 1000' in priced.stdout


def test_the_installed_cli_runs_the_pipeline_locally_and_writes_outside_site_packages(installed, tmp_path):
    # WHEN `local run --once` runs from outside the checkout
    result = cfcli(installed, tmp_path, "local", "run", "--once")
    # THEN every sample company is analysed, and local mode's state and results are kept under CFCLI_HOME,
    # not in the folder it ran from nor inside the installed package
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Netflix" in result.stdout
    assert (tmp_path / "home" / ".local-state").is_dir()
    assert list((tmp_path / "home" / "local-results" / "results").rglob("*.jsonl"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]
    assert not list(installed.rglob(".local-state")) and not list(installed.rglob("local-results"))
