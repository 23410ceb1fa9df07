"""Progress on stderr: a live line on a terminal, plain lines elsewhere (watchlist_workstation/cli/progress.py)."""

from __future__ import annotations

import io
import threading

import boto3
from botocore.exceptions import ClientError, EndpointConnectionError

import cfcli  # noqa: F401  (registers every command on the group)
from watchlist_workstation.cli.app import cli
from watchlist_workstation.cli.progress import PLAIN_INTERVAL, Progress, Steps
from watchlist_workstation.deploy import teardown
from watchlist_workstation.deploy.teardown import empty_bucket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_come_at_each_tenth_of_a_known_total():
    # GIVEN a count of 200 units shown where there is no terminal
    out = io.StringIO()
    # WHEN it advances one unit at a time to the end
    with Progress("written", total=200, stream=out, live=False) as progress:
        for _ in range(200):
            progress.advance()
    # THEN one whole line each tenth, the last at 100%, and nothing else
    assert out.getvalue().splitlines() == [f"written {20 * i}/200 ({10 * i}%)" for i in range(1, 11)]


def test_plain_lines_for_an_unknown_total_come_every_interval_and_end_with_the_count():
    # GIVEN a count whose total is not known, on a clock the test moves
    out, clock = io.StringIO(), Clock()
    progress = Progress("deleted", stream=out, live=False, clock=clock)
    # WHEN work goes on for less than an interval
    progress.update(1000)
    # THEN nothing is printed yet
    assert out.getvalue() == ""
    # WHEN an interval has passed, and later the work ends
    clock.now = PLAIN_INTERVAL
    progress.update(2000)
    progress.update(2500)
    progress.finish()
    # THEN one line for the interval, and the final count
    assert out.getvalue().splitlines() == ["deleted 2000", "deleted 2500"]


def test_quick_work_of_unknown_size_prints_no_count():
    # GIVEN a count of unknown total that ends within the interval  WHEN it finishes  THEN it printed nothing
    out = io.StringIO()
    with Progress("deleted", stream=out, live=False, clock=Clock()) as progress:
        progress.update(3)
    assert out.getvalue() == ""


def test_a_live_line_is_rewritten_in_place_and_ends_with_a_newline():
    # GIVEN a terminal
    out, clock = io.StringIO(), Clock()
    # WHEN a count advances (slowly enough to be drawn each time), with a stage line in between
    with Progress("moved", total=4, stream=out, live=True, clock=clock) as progress:
        for done in (1, 2):
            clock.now += 1
            progress.update(done, detail="0 refused" if done == 1 else "")
        progress.stage("a note")
        clock.now += 1
        progress.update(4)
    # THEN each drawing returns to the line's start and wipes a longer earlier text; a stage gets its own line
    assert out.getvalue() == (
        "\rmoved 1/4 (25%), 0 refused\rmoved 2/4 (50%)           \na note\n\rmoved 4/4 (100%)\rmoved 4/4 (100%)\n"
    )


def test_steps_print_lines_and_close_a_visible_count_before_the_next_line():
    # GIVEN steps told where there is no terminal
    out = io.StringIO()
    with Steps(stream=out, live=False) as steps:
        # WHEN a step reports a count of a known total, then the next step is told
        steps.line("deleting stack s (waiting for CloudFormation)...")
        steps.count("stack s: resources deleted", 3, 10)
        steps.count("stack s: resources deleted", 10, 10)
        steps.line("deleted stack s")
    # THEN the count's lines sit between the two steps
    assert out.getvalue().splitlines() == [
        "deleting stack s (waiting for CloudFormation)...",
        "stack s: resources deleted 3/10 (30%)",
        "stack s: resources deleted 10/10 (100%)",
        "deleted stack s",
    ]


def test_emptying_a_bucket_reports_the_count_after_each_batch(aws):
    # GIVEN a versioned bucket (as the results bucket is) of 1,001 objects (S3 deletes 1,000 a call)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="many")
    s3.put_bucket_versioning(Bucket="many", VersioningConfiguration={"Status": "Enabled"})
    for n in range(1001):
        s3.put_object(Bucket="many", Key=f"k{n}", Body=b"x")
    counts: list[int] = []
    # WHEN it is emptied
    deleted = empty_bucket(s3, "many", counts.append)
    # THEN the count came after each batch
    assert deleted == 1001 and counts == [1000, 1001]


def test_add_of_3000_names_prints_plain_progress_lines(stack, cli_runner, tmp_path):
    # GIVEN a file of 3,000 names
    path = tmp_path / "names.txt"
    path.write_text("".join(f"Company {n:05d}\n" for n in range(3000)))
    # WHEN it is added, stderr not being a terminal
    result = cli_runner.invoke(cli, ["add", "-f", str(path), "--json"])
    # THEN stderr has what happens first, one line each tenth of the writes, and the summary; stdout is the data
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines() == [
        "checking 3000 names against the watchlist, then writing 25 a call",
        *[f"added {300 * i}/3000 ({10 * i}%)" for i in range(1, 11)],
        "added 3000, already present 0",
    ]
    assert len(stack.names()) == 3000


class DeletingStack:
    """A CloudFormation client whose stack takes a while to delete: one of its two resources is gone at once."""

    def __init__(self) -> None:
        self.deleted = threading.Event()

    def delete_stack(self, StackName):
        pass

    def get_waiter(self, name):
        stack = self

        class Waiter:
            def wait(self, **_):
                stack.deleted.wait(5)

        return Waiter()

    failures: list[Exception] = []  # raised by the first listings, one each

    def get_paginator(self, name):
        statuses = ["DELETE_COMPLETE", "DELETE_IN_PROGRESS"]
        failures = self.failures

        class Pages:
            def paginate(self, **_):
                if failures:
                    raise failures.pop(0)
                return [{"StackResourceSummaries": [{"ResourceStatus": s} for s in statuses]}]

        return Pages()


def test_deleting_a_stack_counts_its_resources_deleted_while_it_waits(monkeypatch):
    # GIVEN a stack whose deletion takes a while, counted every few milliseconds
    monkeypatch.setattr(teardown, "RESOURCE_COUNT_SECONDS", 0.01)
    cloudformation = DeletingStack()
    counts: list[tuple[int, int]] = []

    def heard(deleted: int, total: int) -> None:
        counts.append((deleted, total))
        cloudformation.deleted.set()  # the deletion ends once a count was heard

    # WHEN it is deleted
    teardown.delete_stack(cloudformation, "stack-id", on_resources=heard)
    # THEN the count said 1 of its 2 resources was deleted
    assert counts and counts[0] == (1, 2)


def test_a_count_that_fails_only_skips_that_report(monkeypatch):
    # GIVEN a deletion whose first resource listings fail: refused, then a connection that drops
    monkeypatch.setattr(teardown, "RESOURCE_COUNT_SECONDS", 0.01)
    cloudformation = DeletingStack()
    refused = ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "ListStackResources")
    cloudformation.failures = [refused, EndpointConnectionError(endpoint_url="https://cloudformation.example")]
    counts: list[tuple[int, int]] = []

    def heard(deleted: int, total: int) -> None:
        counts.append((deleted, total))
        cloudformation.deleted.set()

    # WHEN it is deleted
    teardown.delete_stack(cloudformation, "stack-id", on_resources=heard)
    # THEN the counting went on past both failures and reported the next listing
    assert cloudformation.failures == [] and counts[0] == (1, 2)
