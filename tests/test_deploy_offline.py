"""watchlist_workstation.deploy.offline.sync_offline: `make-infra --local`'s offline deploy, against moto.

Create when missing, "unchanged" when template, code and parameters are what is deployed, an
update when any of them changed, parameters kept as with `sam deploy`. moto's CloudFormation gets
the one fix local mode applies in its moto server (watchlist_workstation.local.moto_server.fixes), so a
function update works.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import json
import os
import shutil
import warnings
import zipfile
from pathlib import Path

import boto3
import pytest
from moto.awslambda.models import LayerVersion

from watchlist_workstation.deploy.offline import CAPABILITIES, NOT_CODE, ROOT, deploy_offline, sync_offline, zip_folder
from watchlist_workstation.deploy.rules import RuleViolation
from watchlist_workstation.local.moto_server import fixes

REGION = "us-east-1"
BUCKET = "local-artifacts"
DEFAULTS = {"TextSourceUrl": "http://127.0.0.1:9/api/rest_v1", "UserAgentContact": "local-mode"}
_unique = itertools.count(1)

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS.*:UserWarning")


@pytest.fixture
def account(aws, monkeypatch):
    monkeypatch.setattr(LayerVersion, "physical_resource_id", property(fixes.layer_version_physical_id), raising=False)
    return {name: boto3.client(name, region_name=REGION) for name in ("cloudformation", "s3", "lambda")}


@pytest.fixture
def stack_name() -> str:
    return f"offline-{next(_unique)}"


def sync(account, stack_name, parameters=None, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moto skips resource types it does not model
        return sync_offline(
            stack_name,
            parameters or {},
            defaults=DEFAULTS,
            region=REGION,
            artifact_bucket=BUCKET,
            cloudformation=account["cloudformation"],
            s3=account["s3"],
            **kwargs,
        )


def stack_parameters(account, stack_name) -> dict[str, str]:
    stack = account["cloudformation"].describe_stacks(StackName=stack_name)["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}


def consumer(account, outputs) -> dict:
    return account["lambda"].get_function(FunctionName=outputs["ConsumerFunctionName"])["Configuration"]


def test_a_missing_stack_is_created_with_the_defaults(account, stack_name):
    # GIVEN no stack  WHEN synced
    deployment = sync(account, stack_name, {"LanguageCode": "de"})
    # THEN it was created with the defaults and the given parameters, and its outputs are returned
    assert deployment.action == "created"
    assert {"TableName", "ProducerFunctionName"} <= set(deployment.outputs)
    parameters = stack_parameters(account, stack_name)
    assert parameters["TextSourceUrl"] == DEFAULTS["TextSourceUrl"] and parameters["LanguageCode"] == "de"


def test_a_stack_deployed_from_the_same_template_and_code_is_up_to_date(account, stack_name):
    # GIVEN a stack created the way local mode creates it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outputs = deploy_offline(
            stack_name,
            DEFAULTS,
            region=REGION,
            artifact_bucket=BUCKET,
            cloudformation=account["cloudformation"],
            s3=account["s3"],
        )
    # WHEN synced with nothing given
    deployment = sync(account, stack_name)
    # THEN nothing changed
    assert deployment.action == "unchanged"
    assert deployment.outputs == outputs
    status = account["cloudformation"].describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
    assert status == "CREATE_COMPLETE"


def test_a_changed_parameter_updates_the_stack_and_the_others_keep_their_values(account, stack_name):
    # GIVEN a stack
    created = sync(account, stack_name)
    # WHEN one parameter is given a new value
    deployment = sync(account, stack_name, {"LanguageCode": "de"})
    # THEN the stack was updated in place: the function sees the new value, the stack keeps the others
    assert deployment.action == "updated"
    assert deployment.outputs == created.outputs
    assert consumer(account, created.outputs)["Environment"]["Variables"]["LANGUAGE_CODE"] == "de"
    assert stack_parameters(account, stack_name)["TextSourceUrl"] == DEFAULTS["TextSourceUrl"]
    # AND a later sync with nothing given keeps it (as sam's UsePreviousValue does)
    assert sync(account, stack_name).action == "unchanged"
    # AND going back to the template's default is a change too
    assert sync(account, stack_name, {"LanguageCode": "en"}).action == "updated"
    assert consumer(account, created.outputs)["Environment"]["Variables"]["LANGUAGE_CODE"] == "en"


def test_a_stack_the_template_rules_refuse_is_neither_uploaded_nor_created(account, stack_name):
    # GIVEN no stack  WHEN synced with a batch size Lambda refuses without a batching window
    with pytest.raises(RuleViolation) as refused:
        sync(account, stack_name, {"ConsumerBatchSize": "25", "ConsumerBatchingWindowSeconds": "0"})
    # THEN the rule refused it before any upload or stack
    assert refused.value.rule == "BatchingWindowForLargeBatches"
    assert account["cloudformation"].list_stacks()["StackSummaries"] == []
    assert BUCKET not in [b["Name"] for b in account["s3"].list_buckets()["Buckets"]]


def test_a_region_without_comprehend_is_refused_offline(account, stack_name):
    with pytest.raises(RuleViolation) as refused:
        deploy_offline(
            stack_name,
            DEFAULTS,
            region="eu-north-1",
            artifact_bucket=BUCKET,
            cloudformation=account["cloudformation"],
            s3=account["s3"],
        )
    assert refused.value.rule == "ComprehendRegion"


def test_an_update_the_rules_refuse_leaves_the_stack_as_it_was(account, stack_name):
    # GIVEN a stack with a batching window of 0
    sync(account, stack_name, {"ConsumerBatchingWindowSeconds": "0"})
    # WHEN the batch size alone is raised past 10 THEN the stack's own window counts, and the update is refused
    with pytest.raises(RuleViolation):
        sync(account, stack_name, {"ConsumerBatchSize": "11"})
    assert stack_parameters(account, stack_name)["ConsumerBatchSize"] == "10"


def test_motos_cloudformation_ignores_rules_so_the_offline_deploy_checks_them(account, stack_name):
    # A stack whose only rule always fails: AWS refuses it; moto creates it (hence rules.check before it).
    body = {
        "Rules": {"Never": {"Assertions": [{"Assert": {"Fn::Equals": ["a", "b"]}, "AssertDescription": "never"}]}},
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
    }
    account["cloudformation"].create_stack(
        StackName=stack_name, TemplateBody=json.dumps(body), Capabilities=CAPABILITIES
    )
    status = account["cloudformation"].describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
    assert status == "CREATE_COMPLETE"


def copy_of_the_code(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    ignore = shutil.ignore_patterns("__pycache__")
    for folder in ("ServerlessProducer", "ProducerAI", "lib"):
        shutil.copytree(ROOT / folder, root / folder, ignore=ignore)
    return root


def test_changed_code_updates_the_function(account, stack_name, tmp_path):
    # GIVEN a stack deployed from a copy of the code
    root = copy_of_the_code(tmp_path)
    created = sync(account, stack_name, root=root)
    before = consumer(account, created.outputs)["CodeSha256"]
    # WHEN the consumer's handler changes and the stack is synced
    handler = root / "ProducerAI" / "lambda_function.py"
    handler.write_text(handler.read_text() + "\n# changed\n")
    deployment = sync(account, stack_name, root=root)
    # THEN the stack was updated and the function runs the new code
    assert deployment.action == "updated"
    after = consumer(account, created.outputs)["CodeSha256"]
    expected = base64.b64encode(hashlib.sha256(zip_folder(root / "ProducerAI", exclude=NOT_CODE)).digest()).decode()
    assert after != before and after == expected
    # AND synced again, it is up to date
    assert sync(account, stack_name, root=root).action == "unchanged"


def test_code_zips_depend_on_the_files_contents_only(tmp_path):
    # GIVEN a folder zipped once
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "app.py").write_text("print('hi')\n")
    first = zip_folder(folder)
    # WHEN its file is touched (same content, new time) and zipped again
    os.utime(folder / "app.py", (1_000_000_000, 1_000_000_000))
    second = zip_folder(folder)
    # THEN the bytes are the same, and the archive holds the file
    assert first == second
    assert zipfile.ZipFile(io.BytesIO(first)).read("app.py") == b"print('hi')\n"
