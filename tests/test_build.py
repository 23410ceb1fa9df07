"""The Docker-free build (watchlist_workstation/deploy/build.py and the steps it runs) and the import-time
bench, on a stand-in project.

The stand-in has the real project's shape (template with Globals layers, two function folders,
lib beside a workstation package) but code of its own, so these tests pin the build's behaviour
whatever the handlers look like today. One test builds the real project too.

The deps layer is installed from PyPI once per session; later builds reuse it through the
build's own stamp (a copy of the session's layer and stamp), so only the first costs a pip run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from watchlist_workstation.deploy.build import build, main
from watchlist_workstation.deploy.build_errors import BuildError, BundleTooLargeError
from watchlist_workstation.deploy.sam_build import main as sam_build_main
from watchlist_workstation.deploy.sizes import check_sizes
from watchlist_workstation.limits import LAMBDA_UNZIPPED_LIMIT_BYTES

REPO = Path(__file__).resolve().parents[1]

# The session's deps layer comes from PyPI through pip, and the import-time bench runs as a process.
pytestmark = [pytest.mark.network, pytest.mark.servers]

STANDIN_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.13
    Architectures: [arm64]
    Handler: lambda_function.lambda_handler
    Layers:
      - !Ref SharedLayer
      - !Ref DepsLayer
Resources:
  SharedLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layers/shared/
      CompatibleRuntimes: [python3.13]
  DepsLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layers/deps/
      CompatibleRuntimes: [python3.13]
  Queue:
    Type: AWS::SQS::Queue
  ServerlessProducer:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ServerlessProducer/
      Environment:
        Variables:
          QUEUE_URL: !Ref Queue
          QUEUE_ARN: !GetAtt Queue.Arn
          PREFIX: !Sub ${AWS::StackName}-results
  ProducerAI:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ProducerAI/
"""

HANDLER = """\
from lib.log import get_logger

log = get_logger()


def lambda_handler(event, context):
    return {"ok": True}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def make_standin(root: Path) -> Path:
    write(root / "template.yml", STANDIN_TEMPLATE)
    shutil.copy(REPO / "requirements-lambda.txt", root / "requirements-lambda.txt")
    write(root / "lib" / "__init__.py", '"""Stand-in lib."""\n')
    write(root / "lib" / "log.py", "from pythonjsonlogger.json import JsonFormatter\n\n\ndef get_logger():\n    pass\n")
    write(root / "lib" / "limits.py", "LIMIT = 1\n")
    write(root / "lib" / "textsource" / "__init__.py", '"""A shipped subpackage."""\n')
    # The workstation package beside lib: must stay out of the layer.
    write(root / "watchlist_workstation" / "__init__.py", "import yaml\n")
    write(root / "watchlist_workstation" / "local" / "__init__.py", "import flask\n")
    write(root / "watchlist_workstation" / "local" / "server.py", "import moto\n")
    for name in ("ServerlessProducer", "ProducerAI"):
        write(root / name / "lambda_function.py", HANDLER)
        # Not code: must stay out of the function folder.
        write(root / name / "tests" / "test_handler.py", "def test_x():\n    pass\n")
        write(root / name / "__pycache__" / "lambda_function.cpython-311.pyc", "")
        write(root / name / "README.md", "notes\n")
    return root


@pytest.fixture(scope="session")
def standin(tmp_path_factory) -> Path:
    return make_standin(tmp_path_factory.mktemp("standin"))


@pytest.fixture(scope="session")
def built(standin, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("build")
    return out, build(standin, out)


@pytest.fixture
def seeded_out(built, tmp_path) -> Path:
    """An output folder already holding the session's deps layer and stamp, so build() skips pip."""
    session_out, _ = built
    out = tmp_path / "build"
    shutil.copytree(session_out / "layers" / "deps", out / "layers" / "deps")
    shutil.copy(session_out / "layers" / "deps.stamp", out / "layers" / "deps.stamp")
    return out


# ---------------------------------------------------------------------------------------------- layout


def test_shared_layer_ships_all_of_lib_and_nothing_of_the_workstation(built):
    out, _ = built
    layer = out / "layers" / "shared" / "python"
    shipped = sorted(p.relative_to(layer).as_posix() for p in layer.rglob("*") if p.is_file())
    assert shipped == ["lib/__init__.py", "lib/limits.py", "lib/log.py", "lib/textsource/__init__.py"]


def test_deps_layer_ships_python_json_logger_without_bytecode_or_the_sdk(built):
    out, _ = built
    python = out / "layers" / "deps" / "python"
    assert (python / "pythonjsonlogger" / "json.py").is_file()
    assert not list(python.rglob("*.pyc")), "3.11 byte-code is useless to Lambda's 3.13"
    # boto3 comes with the Lambda runtime; a copy in the layer would only add size.
    assert not (python / "boto3").exists()
    assert not (out / "layers" / "deps" / "deps.stamp").exists(), "the stamp must not ship in the layer"


def test_function_folders_hold_only_their_python_code(built):
    out, _ = built
    for name in ("ServerlessProducer", "ProducerAI"):
        folder = out / "functions" / name
        assert [p.relative_to(folder).as_posix() for p in folder.rglob("*")] == ["lambda_function.py"]


def test_template_points_code_and_layers_at_the_build_folders(built):
    out, _ = built
    # Long form only (no short tags), so the plain safe loader reads it.
    template = yaml.safe_load((out / "template.yml").read_text())
    resources = template["Resources"]
    assert resources["ServerlessProducer"]["Properties"]["CodeUri"] == "functions/ServerlessProducer/"
    assert resources["ProducerAI"]["Properties"]["CodeUri"] == "functions/ProducerAI/"
    assert resources["SharedLayer"]["Properties"]["ContentUri"] == "layers/shared/"
    assert resources["DepsLayer"]["Properties"]["ContentUri"] == "layers/deps/"
    for resource in resources.values():
        uri = resource.get("Properties", {}).get("CodeUri") or resource.get("Properties", {}).get("ContentUri")
        if uri:
            assert (out / uri).is_dir()


def test_template_keeps_everything_else_in_long_form(built):
    out, _ = built
    template = yaml.safe_load((out / "template.yml").read_text())
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert template["Globals"]["Function"]["Layers"] == [{"Ref": "SharedLayer"}, {"Ref": "DepsLayer"}]
    variables = template["Resources"]["ServerlessProducer"]["Properties"]["Environment"]["Variables"]
    assert variables == {
        "QUEUE_URL": {"Ref": "Queue"},
        "QUEUE_ARN": {"Fn::GetAtt": ["Queue", "Arn"]},
        "PREFIX": {"Fn::Sub": "${AWS::StackName}-results"},
    }


# ---------------------------------------------------------------------------------------------- sizes


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_report_gives_each_function_its_code_plus_its_layers(built):
    out, report = built
    assert report["limit_bytes"] == LAMBDA_UNZIPPED_LIMIT_BYTES
    shared, deps = report["layers"]["SharedLayer"], report["layers"]["DepsLayer"]
    assert shared["unzipped_bytes"] == folder_bytes(out / "layers" / "shared")
    assert deps["unzipped_bytes"] == folder_bytes(out / "layers" / "deps")
    for name in ("ServerlessProducer", "ProducerAI"):
        fn = report["functions"][name]
        assert fn["layers"] == ["SharedLayer", "DepsLayer"]
        assert fn["code_bytes"] == folder_bytes(out / "functions" / name)
        assert fn["unzipped_bytes"] == fn["code_bytes"] + shared["unzipped_bytes"] + deps["unzipped_bytes"]
        assert 0 < fn["zipped_bytes"] < fn["unzipped_bytes"]
    assert report["runtime"]["python_version"] == "3.13"
    assert report["runtime"]["architecture"] == "arm64"


def test_bundle_over_the_limit_fails_naming_the_function(built):
    _, report = built
    check_sizes(report)  # the real limit: far away
    with pytest.raises(BundleTooLargeError) as exc:
        check_sizes(report, limit_bytes=100)
    assert "ServerlessProducer" in str(exc.value)
    assert "ProducerAI" in str(exc.value)
    assert exc.value.report is report


def test_build_over_the_limit_raises_after_writing_everything(standin, seeded_out):
    with pytest.raises(BundleTooLargeError) as exc:
        build(standin, seeded_out, limit_bytes=1000)
    assert (seeded_out / "template.yml").is_file()
    assert exc.value.report["functions"]["ProducerAI"]["unzipped_bytes"] > 1000


# ---------------------------------------------------------------------------------------------- stamps and checks


def test_unchanged_requirements_reuse_the_deps_layer(standin, built, seeded_out):
    _, first = built
    assert first["deps_reinstalled"] is True
    again = build(standin, seeded_out)
    assert again["deps_reinstalled"] is False
    assert again["layers"]["DepsLayer"]["unzipped_bytes"] == first["layers"]["DepsLayer"]["unzipped_bytes"]


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("import pandas", "pandas"),
        ("from watchlist_workstation.local import server", "watchlist_workstation.local"),
        ("from lib import local", "lib.local"),
        ("import lib.local.server", "lib.local.server"),
        ("import cgi", "cgi"),  # still in 3.11's standard library, gone from Lambda's 3.13
    ],
)
def test_handler_importing_what_lambda_lacks_fails_the_build(tmp_path, seeded_out, line, named):
    root = make_standin(tmp_path / "project")
    write(root / "ProducerAI" / "lambda_function.py", f"{line}\n{HANDLER}")
    with pytest.raises(BuildError) as exc:
        build(root, seeded_out)
    assert f"functions/ProducerAI/lambda_function.py:1 imports {named}" in str(exc.value)


def test_type_only_imports_do_not_fail_the_build(tmp_path, seeded_out):
    root = make_standin(tmp_path / "project")
    typed = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mypy_boto3_sqs import SQSClient\n"
    write(root / "ProducerAI" / "lambda_function.py", typed + HANDLER)
    build(root, seeded_out)


def test_build_refuses_to_write_over_the_sources(standin):
    with pytest.raises(BuildError, match="overwrite the sources"):
        build(standin, standin)


def test_cli_prints_one_line_and_exits_1_without_a_template(tmp_path, capsys):
    assert main(["--root", str(tmp_path), "--out", str(tmp_path / "build")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "template.yml not found" in captured.err


def test_cli_json_report(standin, seeded_out, capsys):
    assert main(["--root", str(standin), "--out", str(seeded_out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["functions"]) == {"ServerlessProducer", "ProducerAI"}


def test_real_project_builds_within_the_limit(seeded_out):
    report = build(REPO, seeded_out)
    assert set(report["functions"]) >= {"ServerlessProducer", "ProducerAI"}
    layer = seeded_out / "layers" / "shared" / "python" / "lib"
    assert sorted(p.relative_to(layer) for p in layer.rglob("*.py")) == sorted(
        p.relative_to(REPO / "lib") for p in (REPO / "lib").rglob("*.py") if "__pycache__" not in p.parts
    )
    assert not list(seeded_out.rglob("watchlist_workstation"))
    for fn in report["functions"].values():
        assert fn["unzipped_bytes"] < LAMBDA_UNZIPPED_LIMIT_BYTES


def test_the_package_version_is_read_from_lib():
    # GIVEN pyproject.toml / THEN the installed CLI's version is lib.__version__, read by the build backend
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" in pyproject["project"]["dynamic"] and "version" not in pyproject["project"]
    assert pyproject["tool"]["hatch"]["version"]["path"] == "lib/__init__.py"


# ---------------------------------------------------------------------------------------------- bench


def run_bench(build_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "bench" / "import_time.py"), "--build-dir", str(build_dir), "--repeat", "1", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_import_bench_compares_each_handler_with_boto3(built):
    out, _ = built
    result = run_bench(out, "--json", "--budget-ms", "100000")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert set(summary["cases"]) == {"import boto3", "ProducerAI (consumer)", "ServerlessProducer (producer)"}
    assert summary["within_budget"] is True


def test_import_bench_exits_1_when_the_consumer_misses_its_target(built):
    out, _ = built
    # No import can be 100 s faster than boto3's, so this budget is always missed.
    result = run_bench(out, "--budget-ms", "-100000")
    assert result.returncode == 1
    assert "OVER BUDGET" in result.stdout
    assert result.stderr.strip().startswith("import_time: the consumer costs")


# ---------------------------------------------------------------------------------------------- sam build's step


def test_sam_build_step_copies_the_resources_folder_into_sams_artifacts_dir(standin, seeded_out, tmp_path):
    # WHEN sam build asks for a layer and a function (scripts/sam-build.mk runs this with its ARTIFACTS_DIR)
    assert sam_build_main(["DepsLayer", "--artifacts-dir", str(tmp_path / "deps"), "--root", str(standin),
                           "--out", str(seeded_out)]) == 0  # fmt: skip
    assert sam_build_main(["ProducerAI", "--artifacts-dir", str(tmp_path / "fn"), "--root", str(standin),
                           "--out", str(seeded_out)]) == 0  # fmt: skip
    # THEN each artifacts folder holds exactly what the build made for that resource
    assert (tmp_path / "deps" / "python" / "pythonjsonlogger").is_dir()
    assert sorted(p.name for p in (tmp_path / "fn").iterdir()) == ["lambda_function.py"]


def test_sam_build_step_fails_in_one_line_when_the_import_check_fails(tmp_path, seeded_out, capsys):
    # GIVEN a handler importing what Lambda lacks
    root = make_standin(tmp_path / "project")
    write(root / "ProducerAI" / "lambda_function.py", f"import pandas\n{HANDLER}")
    # WHEN sam build asks for the other function
    code = sam_build_main(["ServerlessProducer", "--artifacts-dir", str(tmp_path / "fn"), "--root", str(root),
                           "--out", str(seeded_out)])  # fmt: skip
    # THEN the whole build's check fails it too, in one line, and nothing reaches SAM
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("sam-build ServerlessProducer: shipped code imports") and "pandas" in err
    assert not (tmp_path / "fn").exists()


def test_sam_build_step_refuses_a_resource_the_template_lacks(standin, seeded_out, tmp_path, capsys):
    code = sam_build_main(["Nope", "--artifacts-dir", str(tmp_path / "x"), "--root", str(standin),
                           "--out", str(seeded_out)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "Nope is neither a function nor a layer of the template" in err
