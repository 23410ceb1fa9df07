"""`./cfcli.py compact` (docs/cli.md): it invokes the stack's Compactor, here played in-process by the real handler
against the stack's bucket in moto, prints each day's objects and rows before and after, asks again for the days
an invocation left, and fails in one line."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from tests.conftest import put_batch, result_row
from tests.test_compaction import Context
from tests.test_producer import load_handler
from watchlist_workstation.cli import compact
from watchlist_workstation.cli.app import cli


class FakeLambda:
    """Lambda's Invoke, answered by `answer(event)`: a payload, or ("error", payload) for a function error."""

    def __init__(self, answer) -> None:
        self.answer, self.events = answer, []

    def invoke(self, FunctionName, InvocationType, Payload):
        event = json.loads(Payload)
        self.events.append((FunctionName, event))
        result = self.answer(event)
        if isinstance(result, tuple):
            return {"FunctionError": "Unhandled", "Payload": io.BytesIO(json.dumps(result[1]).encode())}
        return {"Payload": io.BytesIO(json.dumps(result).encode())}


@pytest.fixture
def lam(stack, monkeypatch):
    """The Compactor's real handler behind a fake Invoke, its clock at 2026-11-28 01:30 UTC."""
    for key, value in {
        "RESULTS_BUCKET": stack.bucket,
        "RESULTS_PREFIX": "results",
        "MANIFESTS_PREFIX": "manifests",
    }.items():
        monkeypatch.setenv(key, value)
    handler = load_handler("ProducerAI", "compact_function")
    monkeypatch.setattr(handler, "utc_now", lambda: datetime(2026, 11, 28, 1, 30, tzinfo=UTC))
    fake = FakeLambda(lambda event: handler.lambda_handler(event, Context(900)))
    monkeypatch.setattr(compact, "invoke_client", lambda app: fake)
    for day in ("2026-11-26", "2026-11-27"):
        for n in range(3):
            put_batch(stack.bucket, [result_row(f"Co {n}", f"{day}T10:00:00.000000Z", run_id=f"run-{day}")], day)
    return fake


def run(cli_runner, *args):
    return cli_runner.invoke(cli, ["compact", *args], catch_exceptions=False)


def test_compact_prints_objects_and_rows_before_and_after_each_finished_day(lam, cli_runner):
    result = run(cli_runner)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["day", "objects", "rows", "outcome"]
    assert [line.split() for line in lines[1:]] == [
        ["2026-11-26", "3", "->", "1", "3", "->", "3", "compacted"],
        ["2026-11-27", "3", "->", "1", "3", "->", "3", "compacted"],
    ]
    assert "compacting with" in result.stderr and lam.events[0][1] == {}
    # AND again: nothing left to do
    again = run(cli_runner, "--json")
    assert json.loads(again.stdout) == [] and "no day needed compacting" not in again.stdout


def test_compact_named_days_and_all_finished_send_their_events(lam, cli_runner):
    assert run(cli_runner, "--day", "2026-11-27").exit_code == 0
    assert run(cli_runner, "--all-finished", "--json").exit_code == 0
    assert [event for _, event in lam.events] == [{"days": ["2026-11-27"]}, {"all_finished": True}]


def test_compact_asks_again_for_the_days_an_invocation_left(stack, cli_runner, monkeypatch):
    answers = iter([{"days": [], "remaining": ["2026-11-27"]}, {"days": [], "remaining": []}])
    fake = FakeLambda(lambda event: next(answers))
    monkeypatch.setattr(compact, "invoke_client", lambda app: fake)
    assert run(cli_runner, "--all-finished").exit_code == 0
    assert [event for _, event in fake.events] == [{"all_finished": True}, {"days": ["2026-11-27"]}]


def test_a_failed_invocation_is_one_line_and_exit_1(stack, cli_runner, monkeypatch):
    error = {"errorType": "ValueError", "errorMessage": "not a day (YYYY-MM-DD): 'x'\nmore"}
    monkeypatch.setattr(compact, "invoke_client", lambda app: FakeLambda(lambda event: ("error", error)))
    result = run(cli_runner)
    assert result.exit_code == 1 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("Error: compactor ") and "ValueError: not a day (YYYY-MM-DD): 'x' more" in line


@pytest.mark.parametrize("args", [["--day", "2026-02-30"], ["--day", "2026-11-27", "--all-finished"]])
def test_bad_days_and_contradicting_options_are_usage_errors(stack, cli_runner, args):
    result = run(cli_runner, *args)
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
