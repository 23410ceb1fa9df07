"""`local up` and `local run --once`: the whole pipeline on this machine, offline, from template.yml.

The stack is created in an embedded moto server; watchlist_workstation.local.lambda_service plays the Lambda
service (schedule, event source mappings, timeouts); a Comprehend-compatible endpoint and a
text server stand in for Amazon Comprehend and Wikipedia. State (the watchlist with each
company's latest state, and the results) survives a restart.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import click

import ddb_ops
from watchlist_workstation.cli.app import cli
from watchlist_workstation.cli.context import AppContext, CliError, emit_json, note
from watchlist_workstation.cli.deploy import parameter_option
from watchlist_workstation.cli.observe import queue_depth
from watchlist_workstation.cli.progress import Progress, stage
from watchlist_workstation.cli.watchlist import read_names
from watchlist_workstation.project import ROOT, SAMPLE_WATCHLIST, local_results_dir

# How often `local up` saves the watchlist and mirrors the results while it runs (and once more on stop).
SAVE_EVERY_SECONDS = 30


@cli.group("local")
def local_group() -> None:
    """Run the pipeline on this machine: embedded AWS, local Comprehend, local text source."""


def _start(app: AppContext, port: int, online: bool, results_dir: Path, parameters: dict[str, str]):
    """The local stack with its Lambda service and its Lambda API, started and recorded; what the
    stack's topic sends is printed here and appended to its notifications log."""
    from watchlist_workstation.deploy.rules import RuleViolation
    from watchlist_workstation.local.stack import REGION, Endpoints, LocalStack, default_state_dir

    if Endpoints.read(default_state_dir()) is not None:
        raise CliError("a local stack is already running (see .local-state/endpoints.json); stop it first")
    if online and not parameters.get("UserAgentContact"):
        # The real Wikipedia asks every client for a way to reach its operator; no placeholder is ever sent.
        raise CliError("--online reads the real Wikipedia: give your contact with -p UserAgentContact=<url or e-mail>")
    stack = LocalStack(
        stack_name=app.stack_name, port=port, online=online, results_dir=results_dir, parameters=parameters
    )
    from watchlist_workstation.local.lambda_service.specs import DiscoveryError

    try:
        return stack.start(prepare=_seed_watchlist, watch_notifications=True, echo=note, prewarm=True, lambda_api=True)
    except RuleViolation as exc:  # the template's Rules, which AWS would apply too (docs/deploying.md)
        raise CliError(f"the local stack cannot be created in {REGION}: {exc}") from exc
    except DiscoveryError as exc:
        # What Lambda would refuse at deploy (an event source mapping whose role may not poll): one line.
        raise CliError(f"the local stack cannot run what was deployed: {exc}") from exc


def _seed_watchlist(stack) -> None:
    """An empty watchlist gets the sample companies; a restored one is kept as it was."""
    table = stack.outputs["TableName"]
    ddb = stack.client("dynamodb")
    if not ddb_ops.items_list(table, ddb):
        # The same reading (comments, blank lines, validation, "Name | Page title") as `./cfcli.py add -f`.
        sample = read_names((), str(SAMPLE_WATCHLIST), "add")
        report = ddb_ops.items_add(table, sample.names, ddb, titles=sample.titles)
        note(f"seeded the watchlist with {len(report.added)} companies from {SAMPLE_WATCHLIST.relative_to(ROOT)}")
    else:
        note(f"restored {stack.restored['items']} companies and {stack.restored['results']} results objects")


def _endpoint_lines(stack) -> list[str]:
    e = stack.endpoints
    return [
        f"AWS (moto)        {e.aws}",
        f"Lambda API        {e.lambda_}",
        f"Comprehend        {e.comprehend}",
        f"text source       {e.text_source}",
        f"stack             {stack.stack_name} (created in {stack.startup_seconds:.1f} s)",
        f"function logs     {stack.state_dir / 'logs'}",
        f"notifications     {stack.notifications_log} (also printed here)",
    ]


def _source_and_results_options(command):
    """--online and --results-dir, shared by `local run` and `local up`."""
    command = click.option(
        "--results-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=local_results_dir,
        show_default="local-results/ in the checkout, or in CFCLI_HOME when installed",
        help="Where the results are mirrored.",
    )(command)
    return click.option(
        "--online", is_flag=True, help="Fetch texts from the real Wikipedia instead of the local text source."
    )(command)


# --parameter KEY=VALUE, as make-infra takes it: the local stack is created with these template parameters.
_parameter_option = parameter_option(
    "A template parameter for the local stack, e.g. NotifyOnLabelChange=true (repeatable)."
)


@local_group.command("run")
@click.option("--once", is_flag=True, required=True, help="One schedule tick, drained until the queue is empty.")
@click.option("--port", type=int, default=0, show_default=True, help="Port of the embedded AWS endpoint (0: any).")
@_source_and_results_options
@_parameter_option
@click.option("--timeout", type=float, default=600, show_default=True, help="Seconds to wait for the queue to drain.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's summary as JSON instead of the results table.")
@click.pass_context
def run_once(
    ctx: click.Context,
    once: bool,
    port: int,
    online: bool,
    results_dir: Path,
    parameters: dict[str, str],
    timeout: float,
    as_json: bool,
) -> None:
    """Create the local stack, fire the schedule once, drain the queue, show the results."""
    from watchlist_workstation.cost.localrun import RECORD_NAME
    from watchlist_workstation.local.run_record import RunRecorder
    from watchlist_workstation.local.stack import REGION, local_session

    app: AppContext = ctx.obj
    started = time.perf_counter()
    stage("creating the local stack from template.yml")
    stack = _start(app, port, online, results_dir, parameters)
    try:
        for line in _endpoint_lines(stack):
            note(line)
        comprehend_before = stack.comprehend.stats()
        recorder = RunRecorder.begin(stack)
        with DrainProgress(stack.lambda_service) as progress:
            tick, drained = stack.lambda_service.fire_and_drain(timeout=timeout, on_tick=progress.ticked)
        # What the tick counted, for `cost --from-local-run` to price.
        record = stack.state_dir / RECORD_NAME
        queued = (tick.payload or {}).get("queued") if tick.ok else 0
        recorder.end(queued=queued, batches=drained.batches, records=drained.records).write(record)
        if not tick.ok:
            raise CliError(f"the producer failed: {tick.error_type}: {tick.error_message}")
        comprehend = stack.comprehend.stats()
        calls = sum(comprehend["calls"].values()) - sum(comprehend_before["calls"].values())
        # The alarms' verdict on this run, and whatever the topic sent during it.
        stack.notifications.flush()
        saved = stack.save()
        dead = queue_depth(stack.client("sqs"), stack.outputs["DeadLetterQueueUrl"])["waiting"]
        summary = {
            "queued": (tick.payload or {}).get("queued"),
            "run_id": (tick.payload or {}).get("run_id"),
            "batches": drained.batches,
            "records": drained.records,
            "failed_records": drained.failed,
            "dead_lettered": dead,
            "comprehend_calls": calls,
            "results_dir": str(results_dir),
            "seconds": round(time.perf_counter() - started, 2),
            "drained": not drained.timed_out,
            "counts_file": str(record),
        }
        note(
            f"run {summary['run_id']}: queued {summary['queued']}, {drained.batches} batches, "
            f"{calls} Comprehend calls, {dead} in the dead-letter queue, results mirrored to {results_dir}/ "
            f"({saved['results_mirrored']} new objects), {summary['seconds']} s"
        )
        if as_json:
            emit_json(summary)
        else:
            from watchlist_workstation.cli.results import results as results_command

            # The results command, pointed at this local stack.
            ctx.obj = AppContext.with_session(
                local_session(REGION), stack_name=stack.stack_name, endpoint_url=stack.endpoints.aws
            )
            ctx.invoke(results_command, since=None, names=(), show_all=False, output_format="table", as_json=False)
        if drained.timed_out:
            raise CliError(f"the queue did not drain within {timeout:.0f} s")
        if dead:
            raise CliError(f"{dead} messages ended in the dead-letter queue; see .local-state/logs for why")
    finally:
        stack.stop()


class DrainProgress:
    """`local run`'s progress: the tick (companies and chunks queued), then the chunks done (deleted from the
    queue) and the companies delivered to the consumer, as the mapping's polls report them (on the pollers'
    threads, hence the lock)."""

    def __init__(self, lambda_service) -> None:
        self._lock = threading.Lock()
        self._progress = Progress("chunks done")
        self._companies = self._handed_back = 0
        self._progress.stage("firing the schedule once; the queue drains while the producer queues")
        lambda_service.watch_polls(self.polled)

    def __enter__(self) -> DrainProgress:
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        with self._lock:
            self._progress.__exit__(kind, *rest)

    def ticked(self, tick) -> None:
        with self._lock:
            if not tick.ok:
                self._progress.stage(f"tick failed: {tick.error_type}")
                return
            summary = tick.payload or {}
            chunks = summary.get("chunks")
            self._progress.stage(
                f"tick queued {summary.get('queued')} companies in {chunks} chunk{'' if chunks == 1 else 's'} "
                f"({summary.get('failed')} not queued)"
            )
            self._progress.update(self._progress.done, total=summary.get("chunks") or None)

    def polled(self, report) -> None:
        if not report.received:
            return
        companies = 0
        for record in report.records:
            try:
                companies += len(json.loads(record["body"]).get("companies", [1]))
            except (ValueError, AttributeError, KeyError):
                companies += 1  # a body that is not the producer's message: counted as one
        with self._lock:
            self._companies += companies
            self._handed_back += report.failed
            detail = f"{self._companies} companies delivered to the consumer, {self._handed_back} chunks handed back"
            self._progress.update(self._progress.done + report.deleted, detail=detail)


@local_group.command("up")
@click.option(
    "--port", type=int, default=4566, show_default=True, help="Port of the embedded AWS endpoint (0: any free port)."
)
@click.option("--rate", type=float, default=None, help="Fire the schedule every RATE seconds instead of its own rate.")
@_source_and_results_options
@_parameter_option
@click.pass_obj
def up(
    app: AppContext, port: int, rate: float | None, online: bool, results_dir: Path, parameters: dict[str, str]
) -> None:
    """Start the local stack and keep it running until Ctrl-C; state is kept for the next start.

    The schedule fires once at the start and then at its rate; make-infra, teardown, run and the
    watchlist commands reach this stack with --local.
    """
    stack = _start(app, port, online, results_dir, parameters)
    stop = threading.Event()
    # SIGTERM stops as cleanly as Ctrl-C: state is saved either way.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    failed: list[Exception] = []

    def play() -> None:
        try:
            stack.lambda_service.run(stop, rate_seconds=rate, fire_now=True)
        except Exception as exc:  # e.g. a stack that cannot be read: stop, and say why
            failed.append(exc)
            stop.set()

    worker = threading.Thread(target=play, name="local-lambda", daemon=True)
    try:
        for line in _endpoint_lines(stack):
            note(line)
        note("other commands reach it with --local, e.g. './cfcli.py --local list'; Ctrl-C stops and keeps state")
        stack.notifications.start()  # alarms evaluated and the topic read every few seconds
        worker.start()
        while not stop.wait(SAVE_EVERY_SECONDS):
            _save(stack)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        note("stopping: waiting for running invocations, saving the watchlist and mirroring the results")
        if worker.is_alive():
            worker.join()  # pollers and ticks end before their workers and the emulator go away
        stack.stop()
    if failed:
        raise CliError(f"the local Lambda service stopped: {failed[0]}")


def _save(stack) -> None:
    """The periodic save: a failure is reported and the stack keeps running (the next save tries again)."""
    try:
        stack.save()
    except Exception as exc:
        note(f"could not save the local state now: {type(exc).__name__}: {exc}")
