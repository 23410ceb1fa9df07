"""`./cfcli.py local run --once`: the shipped watchlist end to end on this machine, twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cfcli  # noqa: F401 - registers every command on the group
import ddb_ops
from lib.dataset_layout import decode_object
from tests.stack_fixture import ROOT
from watchlist_workstation.cli.app import cli
from watchlist_workstation.cost.localrun import read_run
from watchlist_workstation.local.stack import LocalStack, local_client
from watchlist_workstation.local.textserver import load_pages


def watchlist() -> dict[str, str]:
    """The sample watchlist: each company's name and the page it reads (after a bar, else the name)."""
    lines = [line.strip() for line in (ROOT / "data" / "watchlist.txt").read_text().splitlines()]
    entries = [line for line in lines if line and not line.startswith("#")]
    return {entry.split("|")[0].strip(): entry.split("|")[-1].strip() for entry in entries}


@pytest.fixture
def local_dirs(tmp_path, monkeypatch, aws_credentials):
    # The endpoints file and saved state go to a temporary folder, never the checkout's .local-state.
    monkeypatch.setenv("CFCLI_LOCAL_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


def run_once(cli_runner, results_dir):
    return cli_runner.invoke(cli, ["local", "run", "--once", "--json", "--results-dir", str(results_dir)])


def mirrored_rows(results_dir) -> list[dict]:
    rows = []
    for path in sorted(results_dir.rglob("part-*.jsonl")):
        rows.extend(decode_object(path.name, path.read_bytes()))
    return rows


def test_first_run_analyses_every_company_and_the_second_reuses_the_state(cli_runner, local_dirs):
    results_dir = local_dirs / "results"
    pages_of = watchlist()
    names = list(pages_of)
    # GIVEN a fresh machine WHEN the demo runs once
    first = run_once(cli_runner, results_dir)
    # THEN every company of the shipped watchlist was queued, analysed and mirrored; nothing was dead-lettered
    assert first.exit_code == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["queued"] == len(names) and summary["dead_lettered"] == 0 and summary["drained"]
    assert summary["comprehend_calls"] >= 1
    # AND stderr (not a terminal here) told the stages and the drain's count in plain lines
    told = first.stderr.splitlines()
    assert told[0] == "creating the local stack from template.yml"
    progress = told[told.index("firing the schedule once; the queue drains while the producer queues") :][:3]
    assert progress == [
        "firing the schedule once; the queue drains while the producer queues",
        f"tick queued {len(names)} companies in 1 chunk (0 not queued)",
        f"chunks done 1/1 (100%), {len(names)} companies delivered to the consumer, 0 chunks handed back",
    ]
    # AND what the tick counted is saved for `cost --from-local-run`
    counted = read_run(Path(summary["counts_file"]))
    assert counted.companies_queued == len(names) and counted.comprehend["documents"] == len(names)
    assert counted.aws_calls["dynamodb:UpdateItem"] == len(names)
    assert counted.text_requests == 3  # one revision request and two intro requests for the 28 companies
    rows = mirrored_rows(results_dir)
    assert sorted(r["name"] for r in rows) == sorted(names)
    # AND each label agrees with the tone the text was written in, where the tone is clear-cut
    pages = load_pages(ROOT / "data" / "companies")
    for row in rows:
        tone = pages[pages_of[row["name"]]].tone
        if tone == "positive":
            assert row["sentiment"] == "POSITIVE", row["name"]
        elif tone == "negative":
            assert row["sentiment"] in ("NEGATIVE", "MIXED"), row["name"]

    # WHEN it runs again on the saved state
    second = run_once(cli_runner, results_dir)
    # THEN the state was restored and unchanged texts cost no Comprehend call and no new result
    assert second.exit_code == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["queued"] == len(names) and again["comprehend_calls"] == 0
    assert read_run(Path(again["counts_file"])).text_requests == 1
    assert read_run(Path(again["counts_file"])).comprehend["billed_units"] == 0
    assert len(mirrored_rows(results_dir)) == len(rows)
    assert "restored" in second.stderr


def test_commands_with_local_and_no_running_stack_say_how_to_start_one(cli_runner, local_dirs):
    result = cli_runner.invoke(cli, ["--local", "list"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: no local stack is running: start one with './cfcli.py local up'"


def test_local_flag_sends_every_call_to_the_running_local_stack(cli_runner, local_dirs):
    # GIVEN a local stack running in this process with one company on its watchlist
    stack = LocalStack(results_dir=local_dirs / "results").start()
    try:
        ddb_ops.items_add(stack.outputs["TableName"], ["Netflix"], local_client("dynamodb", stack.endpoints.aws))
        # WHEN a command runs with --local
        result = cli_runner.invoke(cli, ["--local", "list", "--json"])
        # THEN it read the local table (a call to real AWS would be refused by the loopback guard)
        assert result.exit_code == 0, result.stderr
        assert [row["name"] for row in json.loads(result.stdout)] == ["Netflix"]
    finally:
        stack.stop(save=False)


def test_a_local_stack_the_template_rules_refuse_is_not_created(cli_runner, local_dirs):
    # WHEN local mode is asked for a batch size Lambda refuses without a batching window
    result = cli_runner.invoke(
        cli,
        ["local", "run", "--once", "--results-dir", str(local_dirs / "results"),
         "-p", "ConsumerBatchSize=25", "-p", "ConsumerBatchingWindowSeconds=0"],
    )  # fmt: skip
    # THEN it fails in one line with the rule's description, as CloudFormation would, and leaves nothing running
    assert result.exit_code == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: the local stack cannot be created in us-east-1")
    assert "ConsumerBatchSize above 10 needs ConsumerBatchingWindowSeconds" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (local_dirs / "state" / "endpoints.json").exists()
