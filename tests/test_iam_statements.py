"""Every IAM statement of every role in template.yml is needed: without it, local mode (which enforces IAM,
docs/local-mode.md, "IAM in local mode") fails the pipeline in a named place, or does what AWS does instead.

Each case removes one statement from a copy of the template, creates the stack locally with a two-company
watchlist, runs a tick, and checks where it failed. The statements come from the template itself: a new
statement without a case here fails test_every_statement_has_a_case.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from watchlist_workstation.deploy.template import load_template
from watchlist_workstation.local.lambda_service.invoker import InvokeResult
from watchlist_workstation.local.lambda_service.poller import PollReport
from watchlist_workstation.local.lambda_service.specs import DiscoveryError
from watchlist_workstation.local.stack import LocalStack

pytestmark = pytest.mark.servers

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yml"
NAMES = ["Airbnb", "Adobe Inc."]
NOTIFYING = {"NotifyOnLabelChange": "true"}
GLOOMY = "{name} faces a terrible scandal, huge losses, fraud charges and a disastrous collapse."
CHEERFUL = "{name} is a wonderful, successful and admired company with excellent, growing profits."


def statement_ids(template: dict[str, Any]) -> list[tuple[str, str]]:
    """(role logical id, Sid) of every statement of every role, a conditional one included."""
    found = []
    for role, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for entry in policy["PolicyDocument"]["Statement"]:
                statement = entry["Fn::If"][1] if "Fn::If" in entry else entry
                found.append((role, statement["Sid"]))
    return found


def without(template: dict[str, Any], role: str, sid: str) -> dict[str, Any]:
    copy = json.loads(json.dumps(template))
    for policy in copy["Resources"][role]["Properties"]["Policies"]:
        statements = policy["PolicyDocument"]["Statement"]
        policy["PolicyDocument"]["Statement"] = [
            e for e in statements if (e["Fn::If"][1] if "Fn::If" in e else e).get("Sid") != sid
        ]
    return copy


@dataclass
class Run:
    """What one tick did on a local stack: the producer's result, the consumer's batches, both logs."""

    stack: LocalStack
    tick_ok: bool
    tick_error: str
    polls: list[PollReport]
    compaction: InvokeResult | None = None

    def log(self, logical_id: str) -> str | None:
        """The function's log; None when Lambda dropped it (no log permissions)."""
        lam = self.stack.lambda_service
        (name,) = [s.name for s in lam.functions.values() if s.logical_id == logical_id]
        path = lam.log_path(name)
        return None if path is None else (path.read_text() if path.exists() else "")

    @property
    def batches_ok(self) -> bool:
        return bool(self.polls) and all(p.received and p.failed == 0 for p in self.polls)


def run_tick(stack: LocalStack, *, flip_labels: bool = False, repair: bool = False, compact: bool = False) -> Run:
    """Fire the schedule once and deliver one batch; with `flip_labels`, a second tick after the texts flip;
    with `repair`, the first batch's results object is lost and its message delivered again (the
    redelivery checks that object with HeadObject and analyses again when it is missing); with `compact`,
    the Compactor function then compacts the batch's day (docs/dataset.md, "Compaction")."""
    lam = stack.lambda_service
    (mapping,) = lam.mappings
    polls, tick_ok, tick_error = [], True, ""
    for round_ in range(2 if flip_labels else 1):
        if round_:
            for name in NAMES:
                stack.text_server.add_page(name, GLOOMY.format(name=name) if round_ else CHEERFUL.format(name=name))
        tick = lam.fire_schedule()
        tick_ok, tick_error = tick.ok and tick_ok, tick_error or (tick.error_message or "")
        if not tick.ok:
            break
        polls.append(lam.poll_once(mapping, wait_seconds=5, flush_when_empty=True))
    if repair and tick_ok:
        lose_results_and_redeliver(stack, polls[0], mapping.queue_url)
        polls.append(lam.poll_once(mapping, wait_seconds=5, flush_when_empty=True))
    compaction = None
    if compact and tick_ok:
        days = sorted({key.split("/dt=")[1][:10] for key in result_keys(stack)})
        (compactor,) = [f.name for f in lam.functions.values() if f.logical_id == "Compactor"]
        compaction = lam.invoke(compactor, {"days": days})
    return Run(stack, tick_ok, tick_error, polls, compaction)


def result_keys(stack: LocalStack) -> list[str]:
    listed = stack.client("s3").list_objects_v2(Bucket=stack.outputs["ResultsBucketName"], Prefix="results/")
    return [o["Key"] for o in listed.get("Contents", [])]


def lose_results_and_redeliver(stack: LocalStack, delivered: PollReport, queue_url: str) -> None:
    """The results object gone after the table named it (as after a crash between the two writes), and the
    batch's message back on the queue with a receive behind it, as a redelivery is."""
    s3, sqs = stack.client("s3"), stack.client("sqs")
    for key in result_keys(stack):
        s3.delete_object(Bucket=stack.outputs["ResultsBucketName"], Key=key)
    sqs.send_message(QueueUrl=queue_url, MessageBody=delivered.records[0]["body"])
    sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=0)


@pytest.fixture
def local_stack(tmp_path) -> Iterator:
    started: list[LocalStack] = []

    def start(template: dict[str, Any], parameters: dict[str, str] | None = None) -> LocalStack:
        path = tmp_path / f"template-{len(started)}.json"
        path.write_text(json.dumps(template))
        stack = LocalStack(
            state_dir=tmp_path / f"state-{len(started)}",
            results_dir=tmp_path / f"results-{len(started)}",
            parameters=parameters,
            template_path=path,
        )
        started.append(stack)

        def seed(s: LocalStack) -> None:
            s.client("dynamodb").batch_write_item(
                RequestItems={s.outputs["TableName"]: [{"PutRequest": {"Item": {"name": {"S": n}}}} for n in NAMES]}
            )
            for name in NAMES:  # cheerful first, so that the second tick of flip_labels changes every label
                s.text_server.add_page(name, CHEERFUL.format(name=name))

        return stack.start(prepare=seed)

    yield start
    for stack in started:
        stack.stop(save=False)


def call_refused(code: str, operation: str, action: str) -> list[str]:
    """What the log shows when botocore's `operation` was refused with `code` for the IAM `action`."""
    return [f"({code}) when calling the {operation} operation", action]


def expect_producer_denied(*shown: str):
    def check(run: Run) -> None:
        assert not run.tick_ok or not run.polls or run.polls[0].received == 0
        log = run.log("ServerlessProducer") or ""
        assert all(text in log for text in shown), log

    return check


def expect_consumer_denied(*shown: str):
    def check(run: Run) -> None:
        assert run.tick_ok
        last = run.polls[-1]
        assert last.received and last.failed == last.received  # handed back, to be retried, then dead-lettered
        log = run.log("ProducerAI") or ""
        assert all(text in log for text in shown), log

    return check


def expect_compactor_denied(operation: str, action: str, resource: str):
    def check(run: Run) -> None:
        assert run.tick_ok and run.batches_ok and run.compaction is not None
        message = run.compaction.error_message or ""
        assert not run.compaction.ok and f"(AccessDenied) when calling the {operation} operation" in message, message
        assert f"perform: {action} on resource: " in message and resource in message, message

    return check


def expect_logs_dropped(logical_id: str):
    def check(run: Run) -> None:
        # AWS runs the function but drops its output: the pipeline works and the log is gone.
        assert run.tick_ok and run.batches_ok
        assert run.compaction is None or run.compaction.ok
        assert run.log(logical_id) is None

    return check


# Where the pipeline fails without each statement: (function, call) or what AWS does instead.
CASES: dict[tuple[str, str], tuple[Any, dict[str, str] | None, str]] = {
    ("ServerlessProducerRole", "ReadWatchlist"): (
        expect_producer_denied(*call_refused("AccessDeniedException", "Scan", "dynamodb:Scan")),
        None,
        "",
    ),
    ("ServerlessProducerRole", "QueueCompanies"): (
        expect_producer_denied(*call_refused("AccessDenied", "SendMessageBatch", "sqs:SendMessage")),
        None,
        "",
    ),
    ("ServerlessProducerRole", "WriteOwnLogs"): (expect_logs_dropped("ServerlessProducer"), None, ""),
    # PollWorkQueue: the event source mapping is refused at deploy (test_without_poll_work_queue_...).
    ("ProducerAIRole", "PollWorkQueue"): (None, None, ""),
    ("ProducerAIRole", "KeepLatestState"): (
        expect_consumer_denied(*call_refused("AccessDeniedException", "UpdateItem", "dynamodb:UpdateItem")),
        None,
        "",
    ),
    ("ProducerAIRole", "WriteResults"): (
        expect_consumer_denied(*call_refused("AccessDenied", "PutObject", "s3:PutObject")),
        None,
        "",
    ),
    # HeadObject of the missing object answers 403 without s3:ListBucket: the repair can never happen.
    ("ProducerAIRole", "ListResults"): (
        expect_consumer_denied("results check failed", "(403) when calling the HeadObject operation"),
        None,
        "repair",
    ),
    # The redelivery finds the object missing and looks for the day's manifest: refused without this statement.
    ("ProducerAIRole", "ReadManifests"): (
        expect_consumer_denied("results check failed", *call_refused("AccessDenied", "GetObject", "manifests/dt=")),
        None,
        "repair",
    ),
    ("ProducerAIRole", "DetectSentiment"): (
        expect_consumer_denied('"comprehend batch failed"', '"error_code": "AccessDeniedException"'),
        None,
        "",
    ),
    ("ProducerAIRole", "NotifyLabelChanges"): (
        expect_consumer_denied(*call_refused("AuthorizationError", "Publish", "sns:Publish")),
        NOTIFYING,
        "flip",
    ),
    ("ProducerAIRole", "WriteOwnLogs"): (expect_logs_dropped("ProducerAI"), None, ""),
    ("CompactorRole", "ListDataset"): (
        expect_compactor_denied("ListObjectsV2", "s3:ListBucket", ":::"),
        None,
        "compact",
    ),
    ("CompactorRole", "RewriteDataset"): (
        expect_compactor_denied("GetObject", "s3:GetObject", "/results/dt="),
        None,
        "compact",
    ),
    ("CompactorRole", "CommitManifests"): (
        expect_compactor_denied("GetObject", "s3:GetObject", "/manifests/dt="),
        None,
        "compact",
    ),
    ("CompactorRole", "WriteOwnLogs"): (expect_logs_dropped("Compactor"), None, "compact"),
}

STATEMENTS = statement_ids(load_template(TEMPLATE))


def test_every_statement_has_a_case():
    assert sorted(STATEMENTS) == sorted(CASES)


@pytest.mark.parametrize(("role", "sid"), [s for s in STATEMENTS if CASES.get(s, (None,))[0] is not None])
def test_without_the_statement_the_pipeline_fails_where_aws_would(role, sid, local_stack):
    check, parameters, scenario = CASES[(role, sid)]
    stack = local_stack(without(load_template(TEMPLATE), role, sid), parameters)
    check(run_tick(stack, flip_labels=scenario == "flip", repair=scenario == "repair", compact=scenario == "compact"))


def test_without_poll_work_queue_the_event_source_mapping_is_refused_at_deploy(local_stack):
    # GIVEN the consumer's role without its queue permissions  WHEN the stack is created locally
    # THEN the mapping is refused as Lambda's CreateEventSourceMapping refuses it
    with pytest.raises(DiscoveryError, match="does not have permissions to call ReceiveMessage on SQS"):
        local_stack(without(load_template(TEMPLATE), "ProducerAIRole", "PollWorkQueue"))


@pytest.mark.parametrize("parameters", [None, NOTIFYING], ids=["default", "notifying"])
def test_the_shipped_template_passes_the_same_run(parameters, local_stack):
    stack = local_stack(load_template(TEMPLATE), parameters)
    run = run_tick(stack, flip_labels=parameters is not None, compact=True)
    assert run.tick_ok and run.batches_ok and run.compaction is not None and run.compaction.ok
    logs = [run.log(function) for function in ("ServerlessProducer", "ProducerAI", "Compactor")]
    assert all(logs) and not any("AccessDenied" in log for log in logs if log)
    assert [day["outcome"] for day in run.compaction.payload["days"]] == ["compacted"]


def test_with_iam_enforced_a_lost_results_object_is_repaired_by_the_redelivery(local_stack):
    # GIVEN the shipped template (the consumer may list the results bucket), a batch recorded in the table,
    # and its results object lost before the message came back
    stack = local_stack(load_template(TEMPLATE))
    # WHEN the message is delivered again
    run = run_tick(stack, repair=True)
    # THEN HeadObject answers 404, not 403: the consumer analyses again and the object is written again
    assert run.tick_ok and run.batches_ok and len(run.polls) == 2
    assert "its results object is missing; analysing again" in (run.log("ProducerAI") or "")
    assert len(result_keys(stack)) == 1


def test_keys_the_account_did_not_hand_a_role_and_unmapped_operations(local_stack):
    # GIVEN a running local stack
    stack = local_stack(load_template(TEMPLATE))
    lam = stack.lambda_service
    (consumer,) = [s for s in lam.functions.values() if s.logical_id == "ProducerAI"]
    table = stack.outputs["TableName"]
    # THEN the administrator's fake key may do anything a test or the CLI does
    assert stack.client("dynamodb").describe_table(TableName=table)["Table"]["TableName"] == table
    # AND a temporary key STS never handed out is refused, as an invalid token is
    forged = boto3.client(
        "dynamodb",
        endpoint_url=stack.endpoints.aws,
        region_name="us-east-1",
        aws_access_key_id="ASIAFORGEDKEY0000000",
        aws_secret_access_key="x",
        aws_session_token="x",
    )
    with pytest.raises(ClientError) as refused:
        forged.describe_table(TableName=table)
    assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"
    # AND a role's call local mode cannot map is refused (fail closed), not let through
    with pytest.raises(ClientError) as unmapped:
        lam.roles.client("dynamodb", consumer.role_arn, consumer.name).list_tables()
    assert "not emulated by local mode" in unmapped.value.response["Error"]["Message"]
