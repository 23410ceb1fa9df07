"""cfcli status / run against a stack created from template.yml in moto (`results`: tests/test_cli_results.py).

moto's Lambda cannot run function code without Docker, so `run` is tested at the Lambda boundary: a
botocore Stubber answers the Invoke, and the test checks what was sent and what was printed.
"""

from __future__ import annotations

import io
import json
import uuid

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

import cfcli  # noqa: F401  (registers every command on the group)
from tests.conftest import put_batch, result_row
from watchlist_workstation.cli import observe
from watchlist_workstation.cli.app import cli


def invoke(runner, *args: str):
    return runner.invoke(cli, list(args), catch_exceptions=False)


def assert_one_error_line(result, contains: str) -> None:
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and contains in lines[0]


# ---------------------------------------------------------------- status
def test_status_of_a_fresh_stack_shows_aligned_lines_with_zeros_and_an_enabled_schedule(stack, cli_runner):
    # GIVEN a stack just created
    # WHEN status is asked
    result = invoke(cli_runner, "status")
    # THEN every line is there, values aligned in one column, with empty queues and no results
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert {key: value.strip() for key, value in (line.split(":", 1) for line in lines)} == {
        "stack": f"{stack.name} (CREATE_COMPLETE)",
        "region": "us-east-1",
        "schedule": "ENABLED, rate(5 minutes)",
        "work queue": "0 waiting, 0 in flight",
        "dead-letter queue": "0 messages",
        "alarms": "none",  # moto's CloudFormation creates no alarms
        "last tick": "none in the last 1 hour",
        "watchlist": "0 companies",
        "refresh": "each company every 5 minutes (1 tick of at most 20,000 companies, 100 Wikipedia requests a minute)",
        "results": "0 objects, 0 B",
        "newest result": "none yet",
    }
    assert len({len(line) - len(line.split(":", 1)[1].lstrip()) for line in lines}) == 1
    assert result.stderr == ""


def test_status_json_counts_messages_companies_and_the_newest_result(stack, cli_runner):
    # GIVEN 3 messages on the work queue (1 of them received, so in flight), 2 in the dead-letter queue,
    # 2 companies on the watchlist and 2 results objects
    # moto "delivers" each send to an enabled SQS mapping, fails to run the function without Docker and counts
    # a receive each time (enough sends dead-letter a message); Lambda is not what this test is about.
    lam = boto3.client("lambda")
    for mapping in lam.list_event_source_mappings()["EventSourceMappings"]:
        lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    sqs = boto3.client("sqs")
    for i in range(3):
        sqs.send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps({"n": i}))
    sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=1)
    for i in range(2):
        sqs.send_message(QueueUrl=stack.dlq_url, MessageBody=json.dumps({"n": i}))
    ddb = boto3.client("dynamodb")
    for name in ("Netflix", "Meta"):
        ddb.put_item(TableName=stack.table, Item={"name": {"S": name}})
    put_batch(stack.bucket, [result_row("Netflix", "2026-11-26T10:00:00Z")], "2026-11-26")
    newest = put_batch(stack.bucket, [result_row("Meta", "2026-11-27T10:00:00Z")], "2026-11-27")
    size = boto3.client("s3").head_object(Bucket=stack.bucket, Key=newest)["ContentLength"]
    # WHEN status is asked for JSON
    result = invoke(cli_runner, "status", "--json")
    # THEN the counts and the newest object are reported
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["queue"] | {"url": None} == {"url": None, "waiting": 2, "in_flight": 1, "delayed": 0}
    assert report["dead_letter_queue"]["waiting"] == 2
    assert report["watchlist"] == {"table": stack.table, "companies": 2}
    assert report["schedule"]["state"] == "ENABLED"
    assert report["results"]["objects"] == 2
    assert report["results"]["newest"]["key"] == newest
    assert report["results"]["newest"]["size"] == size
    assert report["results"]["newest"]["last_modified"].endswith("Z")


def test_status_counts_the_watchlist_across_scan_pages(stack, cli_runner, monkeypatch):
    # GIVEN 7 companies and a table that returns 2 items per scan page
    ddb = boto3.client("dynamodb")
    for i in range(7):
        ddb.put_item(TableName=stack.table, Item={"name": {"S": f"Company {i}"}})
    pages = []

    def small_pages(ddb_client, table):
        ddb_client.meta.events.register(
            "before-parameter-build.dynamodb.Scan", lambda params, **_: params.update(Limit=2)
        )
        ddb_client.meta.events.register("after-call.dynamodb.Scan", lambda **kw: pages.append(kw["parsed"]["Count"]))
        return original(ddb_client, table)

    original = observe.count_companies
    monkeypatch.setattr(observe, "count_companies", small_pages)
    # WHEN status is asked
    result = invoke(cli_runner, "status", "--json")
    # THEN every page was counted
    assert json.loads(result.stdout)["watchlist"]["companies"] == 7
    assert len(pages) == 4


def test_status_shows_a_disabled_schedule(stack, cli_runner):
    # GIVEN the schedule rule disabled (as teardown does first)
    boto3.client("events").disable_rule(Name=stack.outputs["ScheduleRuleName"])
    # WHEN status is asked
    result = invoke(cli_runner, "status")
    # THEN the schedule line says so
    (schedule,) = [line for line in result.stdout.splitlines() if line.startswith("schedule:")]
    assert schedule.split(":", 1)[1].strip() == "DISABLED, rate(5 minutes)"


def test_status_of_a_stack_without_outputs_shows_what_it_can(aws, cli_runner):
    # GIVEN a stack with no outputs (another project's, or one that failed to create)
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    boto3.client("cloudformation").create_stack(StackName="bare", TemplateBody=json.dumps(template))
    # WHEN status is asked for it
    result = invoke(cli_runner, "--stack-name", "bare", "status")
    # THEN the stack line is shown, every other part is "unavailable" (the stack has no alarm), and one note says why
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].split(":", 1)[1].strip() == "bare (CREATE_COMPLETE)"
    values = [line.split(":", 1)[1].strip() for line in result.stdout.splitlines()[2:]]
    assert values == ["unavailable"] * 3 + ["none"] + ["unavailable"] * 4
    assert result.stderr == (
        "stack bare has no output ScheduleRuleName, QueueUrl, DeadLetterQueueUrl, TableName, ResultsBucketName, "
        "ProducerFunctionName: those parts are unavailable\n"
    )


def test_status_shows_the_refresh_interval_the_budget_gives_a_long_watchlist(stack, cli_runner, monkeypatch):
    # GIVEN 50,000 companies counted on the watchlist of a stack with the default budget and schedule
    monkeypatch.setattr(observe, "count_companies", lambda ddb, table: {"table": table, "companies": 50_000})
    # WHEN status is asked for
    result = invoke(cli_runner, "status", "--json")
    # THEN it says each company is checked every 15 minutes: 3 ticks of at most 20,000
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["refresh"] == {
        "requests_per_minute": 100,
        "period_seconds": 300,
        "companies_per_tick": 20_000,
        "windows": 3,
        "interval_seconds": 900,
    }


def test_status_of_a_missing_stack_is_one_line_and_exit_1(aws, cli_runner):
    # GIVEN no stack called "absent"
    # WHEN status is asked for it
    result = invoke(cli_runner, "--stack-name", "absent", "status")
    # THEN one clear line on stderr, nothing on stdout, exit 1
    assert_one_error_line(result, "stack absent does not exist")


# ---------------------------------------------------------------- run
@pytest.fixture
def lambda_stub(monkeypatch):
    """The Lambda client `run` uses, answered by a Stubber; `sent` collects each Invoke's parameters."""
    client = boto3.client("lambda", region_name="us-east-1")
    sent: list[dict] = []
    client.meta.events.register("before-parameter-build.lambda.Invoke", lambda params, **_: sent.append(dict(params)))
    monkeypatch.setattr(observe, "invoke_client", lambda app: client)
    with Stubber(client) as stubber:
        stubber.sent = sent
        yield stubber
        stubber.assert_no_pending_responses()


def answer(stubber, payload: dict, function_error: str | None = None) -> None:
    body = json.dumps(payload).encode()
    response = {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(body), len(body))}
    if function_error:
        response["FunctionError"] = function_error
    stubber.add_response("invoke", response)


def test_run_invokes_the_producer_with_a_schedule_shaped_event(stack, cli_runner, lambda_stub):
    # GIVEN a producer that queues 3 companies
    answer(lambda_stub, {"run_id": "r", "queued": 3, "failed": 0, "batches": 1})
    # WHEN run is asked
    result = invoke(cli_runner, "run")
    # THEN the stack's producer was invoked synchronously with a scheduled-event payload carrying a fresh id and a time
    assert result.exit_code == 0, result.stderr
    (params,) = lambda_stub.sent
    assert params["FunctionName"] == stack.outputs["ProducerFunctionName"]
    assert params["InvocationType"] == "RequestResponse"
    event = json.loads(params["Payload"])
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "cfcli.run"
    assert uuid.UUID(event["id"]).version == 4
    assert event["time"].endswith("Z") and event["region"] == "us-east-1"


def test_run_prints_the_producers_summary(stack, cli_runner, lambda_stub):
    # GIVEN a producer that queues 3 companies in 1 batch
    answer(lambda_stub, {"run_id": "run-42", "queued": 3, "failed": 0, "batches": 1})
    # WHEN run is asked
    result = invoke(cli_runner, "run")
    # THEN the summary is on stdout as aligned lines, and stderr is quiet
    assert result.stdout.splitlines() == ["run_id:  run-42", "queued:  3", "failed:  0", "batches: 1"]
    assert result.stderr == ""


def test_run_json_prints_the_summary_as_json(stack, cli_runner, lambda_stub):
    # GIVEN a producer that queues 3 companies in 1 batch
    answer(lambda_stub, {"run_id": "run-9", "queued": 3, "failed": 0, "batches": 1})
    # WHEN run is asked for JSON
    result = invoke(cli_runner, "run", "--json")
    # THEN stdout is the summary, exit 0
    assert json.loads(result.stdout) == {"run_id": "run-9", "queued": 3, "failed": 0, "batches": 1}
    assert result.exit_code == 0 and result.stderr == ""


def test_run_with_companies_not_queued_prints_the_summary_then_fails_in_one_line(stack, cli_runner, lambda_stub):
    # GIVEN a producer that planned 5 companies and could queue only 3 of them
    summary = {"run_id": "run-9", "planned": 5, "queued": 3, "failed": 2, "batches": 1}
    answer(lambda_stub, summary)
    # WHEN run is asked for JSON
    result = invoke(cli_runner, "run", "--json")
    # THEN stdout still has the summary, and one error line says how many failed and why, with exit status 1
    assert json.loads(result.stdout) == summary
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: 2 of 5 companies could not be queued (run run-9): SQS refused their messages 3 times; "
        "the producer's log line 'companies not queued after retries' names them"
    ]


def test_run_function_error_is_one_line_and_exit_1(stack, cli_runner, lambda_stub):
    # GIVEN a producer that raises
    answer(
        lambda_stub,
        {"errorType": "NothingQueued", "errorMessage": "none of 4 companies could be queued", "stackTrace": ["..."]},
        function_error="Unhandled",
    )
    # WHEN run is asked
    result = invoke(cli_runner, "run")
    # THEN one error line naming the function, the run and the function's error; no summary on stdout
    assert_one_error_line(result, "NothingQueued: none of 4 companies could be queued")
    run_id = json.loads(lambda_stub.sent[0]["Payload"])["id"]
    assert result.stderr == (
        f"Error: producer {stack.outputs['ProducerFunctionName']} failed (run {run_id}): "
        "NothingQueued: none of 4 companies could be queued\n"
    )


def test_run_against_a_missing_stack_is_one_line_and_exit_1(aws, cli_runner, lambda_stub):
    # GIVEN no stack called "absent"
    # WHEN run is asked for it
    result = invoke(cli_runner, "--stack-name", "absent", "run")
    # THEN one clear line, nothing invoked
    assert_one_error_line(result, "stack absent does not exist")
    assert lambda_stub.sent == []
