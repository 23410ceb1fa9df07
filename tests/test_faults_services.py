"""Fault injection at the AWS services and in the consumer itself, and messages sent straight to the queue. The
world and its invariants are tests/fault_world.py's; each scenario pins its outcome."""

from __future__ import annotations

import json
from types import SimpleNamespace

import boto3

from tests.conftest import put_companies
from tests.fault_world import (
    NAMES,
    TICK_TIME,
    VICTIM,
    Outcome,
    ProcessKilled,
    World,
    client_error,
    hook,
    page_text,
    run,
)


# ---------------------------------------------------------------- Comprehend
def test_comprehend_throttling_is_retried_with_backoff(world):
    world.comprehend.faults.extend([(400, "ThrottlingException")] * 3)
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)
    assert world.comprehend.operations().count("BatchDetectSentiment") == 4


def test_comprehend_failing_one_document_every_time_dead_letters_its_chunk_after_the_others_are_stored(world):
    world.comprehend.document_errors[page_text(VICTIM)] = "INTERNAL_SERVER_ERROR"
    assert run(world) == Outcome(analysed=9, errors_recorded=0, dead_lettered=1)
    assert "sentiment" not in world.item(VICTIM)


def test_comprehend_is_sent_at_most_500_characters_however_long_the_intro(world):
    world.wiki.add_page(VICTIM, "é" * 4000)  # 8,000 UTF-8 bytes
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)
    assert max(len(text) for call in world.comprehend.calls for text in call["request"]["TextList"]) <= 500


def test_comprehend_internal_errors_past_the_retries_fail_the_batch_which_is_redelivered(world):
    # lib.clients gives Comprehend 8 retries: 9 attempts in all fail, so the whole batch fails once.
    world.comprehend.faults.extend([(500, "InternalServerException")] * 9)
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)
    (delivery,) = world.deliveries
    assert delivery.handler_errors and max(delivery.receives.values()) == 2


# ---------------------------------------------------------------- S3
def test_s3_put_denied_dead_letters_the_chunk_and_leaves_no_state_claiming_a_row(world):
    def deny(params):
        raise client_error("AccessDenied", "PutObject", 403)

    hook(world, "s3", "PutObject", deny)
    assert run(world) == Outcome(analysed=0, errors_recorded=0, dead_lettered=1)
    # No state claims a text whose row is missing, so the next tick analyses every text again.
    assert all("text_sha256" not in world.item(name) and "revision" not in world.item(name) for name in NAMES)


def test_s3_put_failing_once_is_redelivered(world):
    failures = [client_error("InternalError", "PutObject", 500)]

    def fail_once(params):
        if failures:
            raise failures.pop()

    hook(world, "s3", "PutObject", fail_once)
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)


# ---------------------------------------------------------------- DynamoDB
def test_a_company_removed_during_its_table_write_is_not_recreated(world):
    def remove_victim_first(params):
        if params.get("Key") == {"name": {"S": VICTIM}}:
            boto3.client("dynamodb").delete_item(TableName=world.res.table, Key=params["Key"])

    hook(world, "dynamodb", "UpdateItem", remove_victim_first)
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)
    assert world.item(VICTIM) is None


def test_throughput_exceeded_on_one_table_write_redelivers_the_chunk_without_a_second_row(world):
    failures = [client_error("ProvisionedThroughputExceededException", "UpdateItem")]

    def throttle_victim_once(params):
        if params.get("Key") == {"name": {"S": VICTIM}} and failures:
            raise failures.pop()

    hook(world, "dynamodb", "UpdateItem", throttle_victim_once)
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)
    (delivery,) = world.deliveries
    assert max(delivery.receives.values()) == 2


# ---------------------------------------------------------------- the consumer itself
# The consumer writes each company's table state first and the batch's results object second, so
# the windows a dying process can leave are: before any write, between the two, and after both.
def kill_once(where: str):
    kills = [ProcessKilled(f"killed {where}")]

    def die(*_, **__):
        if kills:
            raise kills.pop()

    return die


def test_consumer_killed_before_any_write_is_redelivered(world):
    hook(world, "dynamodb", "UpdateItem", kill_once("before the table update"))
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)
    (delivery,) = world.deliveries
    assert delivery.handler_errors == ["ProcessKilled: killed before the table update"]


def test_consumer_killed_between_the_table_update_and_the_results_write(world):
    # GIVEN a consumer that dies when it is about to write the results object (the table already updated)
    hook(world, "s3", "PutObject", kill_once("before PutObject"))
    # THEN the redelivered chunk finds its run's object missing and analyses again: one row each
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)
    (delivery,) = world.deliveries
    assert delivery.handler_errors == ["ProcessKilled: killed before PutObject"]
    assert world.comprehend.operations().count("BatchDetectSentiment") == 2


def test_consumer_killed_after_the_results_write_before_returning(world):
    # GIVEN a consumer that dies right after the results object was written (nothing deleted)
    world.pipeline_client("s3").meta.events.register("after-call.s3.PutObject", kill_once("after PutObject"))
    # THEN the redelivered chunk finds its run's object and writes nothing again
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)
    (delivery,) = world.deliveries
    assert delivery.handler_errors == ["ProcessKilled: killed after PutObject"]
    assert world.comprehend.operations().count("BatchDetectSentiment") == 1 and len(world.keys()) == 1


def test_the_same_chunk_delivered_twice_writes_one_row_each(world):
    summary = world.tick()
    assert summary["queued"] == len(NAMES)
    (message,) = boto3.client("sqs").receive_message(QueueUrl=world.res.queue_url, VisibilityTimeout=0)["Messages"]
    world.send_raw(message["Body"])  # SQS's at-least-once delivery: a second copy of the same message
    world.drain()
    world.assert_invariants()
    assert world.outcome() == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)


# ---------------------------------------------------------------- bodies and names sent straight to the queue
def raw_run(world: World, *bodies: str) -> tuple[Outcome, list[str]]:
    ids = [world.send_raw(body) for body in bodies]
    world.tick()
    world.drain()
    world.assert_invariants()
    return world.outcome(), ids


def chunk_of(*names: str, run_id: str = "raw-run") -> str:
    companies = [{"name": name} for name in names]
    return json.dumps({"v": 2, "run_id": run_id, "requested_at": TICK_TIME, "companies": companies})


def test_a_body_that_is_not_json_is_dead_lettered_with_its_reason(world):
    outcome, (bad,) = raw_run(world, "this is not json")
    assert outcome == Outcome(analysed=10, errors_recorded=0, dead_lettered=1)
    assert world.reasons_for(bad) == ["bad_message: body is not JSON"] * 5


def test_a_message_of_the_one_company_shape_is_worked_on(world):
    outcome, _ = raw_run(world, json.dumps({"name": VICTIM, "run_id": "old-run", "requested_at": TICK_TIME}))
    assert outcome == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)


def test_a_name_crafted_as_a_path_is_analysed_inside_the_results_prefix(world):
    crafted = "../../x"
    put_companies(world.res.table, [crafted])
    world.wiki.add_page(crafted, "A company whose name looks like a path, with strong growth.")
    outcome, _ = raw_run(world, chunk_of(crafted))
    assert outcome.dead_lettered == 0
    assert crafted in {row["name"] for row in world.rows()}
    assert all(request.path.startswith("/w/api.php?") for request in world.wiki.requests)


def test_a_name_of_300_kb_is_dead_lettered_with_its_reason(world):
    # Real SQS refuses a body over 256 KiB at SendMessage; moto accepts it, so the consumer's own
    # check is what this exercises: the name is longer than the watchlist allows.
    outcome, (huge,) = raw_run(world, chunk_of("y" * 300_000))
    assert outcome == Outcome(analysed=10, errors_recorded=0, dead_lettered=1)
    (reason,) = set(world.reasons_for(huge))
    assert reason.startswith("bad_message: ") and "255" in reason


def test_a_name_with_control_characters_is_dead_lettered_with_its_reason(world):
    outcome, (bad,) = raw_run(world, chunk_of("Acme\x07\x1b[2J Corp"))
    assert outcome == Outcome(analysed=10, errors_recorded=0, dead_lettered=1)
    (reason,) = set(world.reasons_for(bad))
    assert reason == "bad_message: company 1: invalid name: name holds a control character (U+0007)"


# ---------------------------------------------------------------- the invocation's time
def test_an_invocation_out_of_time_hands_its_records_back_and_the_next_one_finishes_them(world, monkeypatch):
    # The first consumer invocation has half a second left (Lambda's context says so), the later ones the
    # harness's default minute: the first makes no call at all, the second analyses everything.
    handler, contexts = world.consumer.lambda_handler, iter([SimpleNamespace(get_remaining_time_in_millis=lambda: 500)])
    monkeypatch.setattr(world.consumer, "lambda_handler", lambda event, _: handler(event, next(contexts, None)))
    assert run(world) == Outcome(analysed=10, errors_recorded=0, dead_lettered=0)
    (delivery,) = world.deliveries
    assert delivery.handler_errors == ["BatchFailed: all 1 records failed"]
    assert max(delivery.receives.values()) == 2
