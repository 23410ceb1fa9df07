"""Local mode's Lambda service: runs the deployed stack's functions, fires its schedules, polls its queues.

moto stores functions, event source mappings and EventBridge rules but runs function code only
through Docker, which local mode does not have. LocalLambda plays the part of the Lambda service
(and of EventBridge's scheduler) against a moto *server*, reading every setting from the deployed
resources, never from the template's text (docs/design.md, "Local mode"):

    lam = LocalLambda(session, "http://127.0.0.1:5000", "watchlist-sentiment",
                      extra_env={"AWS_ENDPOINT_URL": ..., "AWS_ENDPOINT_URL_COMPREHEND": ..., ...},
                      work_dir=Path(".local-state/functions"), log_dir=Path(".local-state/logs"))
    lam.discover()            # functions, mappings, schedules; code and layers unzipped into work_dir
    tick, report = lam.fire_and_drain()  # one EventBridge tick to the producer while every mapping
                                         # polls, until each queue is empty and nothing is in flight
    lam.close()

A local stack builds its own (watchlist_workstation/local/stack.py: LocalStack.start). LocalLambda is
a facade over the parts that do the work, each in a module of this package:

    discovery.py (+ code.py, specs.py)  what is deployed: functions, mappings, schedules, a version
    invoker.py (+ workers.py, runtime.py)  invocations in warm worker processes, timeouts, errors
    metrics.py                          the invocation metrics (Invocations, Errors) each invocation publishes
    poller.py                           the SQS event source mappings: receive, invoke, delete, drain
    scheduler.py                        schedule ticks, and the loop `local up` runs
    events.py                           the events a function receives, shaped as AWS sends them
    invoke_api.py                       Lambda's Invoke API on a loopback port, for the CLI's --local

Known differences from Lambda: the workers run this machine's Python (not the function's
runtime version or architecture); memory is reported in the log's REPORT line but not limited;
the 6 MB invocation payload limit, FilterCriteria, non-SQS event sources and cron schedules are
not played (cron rules can be fired by hand or ticked at a given rate); an error in a scheduled
invocation is not retried (EventBridge's asynchronous invoke would retry twice; here the next
tick re-reads the whole watchlist anyway).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from lib.log import get_logger
from watchlist_workstation.local.iam.client import RoleAccess
from watchlist_workstation.local.lambda_service.code import CodeStore
from watchlist_workstation.local.lambda_service.discovery import StackReader
from watchlist_workstation.local.lambda_service.invoker import Invoker, InvokeResult
from watchlist_workstation.local.lambda_service.metrics import mark_as_service, publish_invocation
from watchlist_workstation.local.lambda_service.poller import DrainReport, PollReport, SqsPoller
from watchlist_workstation.local.lambda_service.scheduler import STACK_WATCH_SECONDS, Scheduler
from watchlist_workstation.local.lambda_service.specs import (
    Deployment,
    FunctionSpec,
    MappingSpec,
    ScheduleSpec,
)
from watchlist_workstation.local.lambda_service.workers import WorkerPool

log = get_logger("local.lambda_service")


class LocalLambda:
    """Plays Lambda (and EventBridge's scheduler) for one stack deployed in a moto server."""

    def __init__(
        self,
        session: boto3.Session,
        endpoint_url: str,
        stack_name: str,
        *,
        extra_env: dict[str, str],
        work_dir: Path,
        log_dir: Path | None = None,
    ) -> None:
        self.stack_name = stack_name
        self.extra_env = dict(extra_env)
        self.work_dir = Path(work_dir)
        self.log_dir = Path(log_dir) if log_dir is not None else self.work_dir / "logs"
        self.region = session.region_name
        if not self.region:
            raise ValueError("the session has no region")
        # Pollers share these clients (boto3 clients are thread-safe; sessions are not, so all are made
        # here); the pool must hold a connection for every poller. A slow read is moto scanning a deep
        # queue, not a lost request: a retry after a timeout would receive a second batch and strand the
        # first in flight until its visibility timeout, so reads get time rather than retries.
        config = Config(
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=5,
            read_timeout=120,
            max_pool_connections=64,
        )
        clients = {
            service: session.client(service, endpoint_url=endpoint_url, config=config)
            for service in ("cloudformation", "lambda", "s3", "sqs", "events", "cloudwatch")
        }
        self._cloudwatch = mark_as_service(clients["cloudwatch"])
        # The functions' execution roles, assumed through the emulated STS (docs/local-mode.md, "IAM in local mode").
        self.roles = RoleAccess(session, endpoint_url, config)
        self._deployment = Deployment()
        # One refresh at a time; a refresh and the pools it retires are not interleaved with another.
        self._refresh_lock = threading.Lock()
        self._reader = StackReader(
            clients, stack_name, CodeStore(clients["s3"], clients["lambda"], self.work_dir), self._role_check
        )
        self._invoker = Invoker(
            stack_name=stack_name, region=self.region, extra_env=self.extra_env, log_dir=self.log_dir, roles=self.roles
        )
        self._poller = SqsPoller(
            clients["sqs"],
            self.invoke,
            lambda: self._deployment.mappings,
            # Lambda's pollers use the function's execution role.
            role_sqs=lambda mapping: self.roles.client("sqs", mapping.role_arn, mapping.function),
        )
        self._scheduler = Scheduler(
            stack_name=stack_name,
            invoke=self.invoke,
            poller=self._poller,
            deployment=lambda: self._deployment,
            refresh=self.refresh,
        )

    # -- what is played ---------------------------------------------------------------------------

    @property
    def functions(self) -> dict[str, FunctionSpec]:
        """The stack's functions as last read, by name."""
        return self._deployment.functions

    @property
    def mappings(self) -> list[MappingSpec]:
        return self._deployment.mappings

    @property
    def schedules(self) -> list[ScheduleSpec]:
        return self._deployment.schedules

    @property
    def peak_concurrency(self) -> dict[str, int]:
        """The most invocations of each function that ran at once (clear() it to measure afresh)."""
        return self._invoker.peak_concurrency

    def discover(self) -> None:
        """Read the stack's functions, mappings and schedules from the deployed resources.

        Safe to call again after the deployment changed (code, environment, timeout, a mapping's
        settings): functions whose configuration changed get fresh workers.
        """
        deployment = self._reader.read(self._deployment.version)
        retired = self._invoker.deploy(deployment.functions, deployment.mappings)
        self._deployment = deployment
        for pool in retired:  # after the switch: stopping idle workers takes a moment
            pool.retire()
        log.info(
            "stack discovered",
            extra={
                "stack": self.stack_name,
                "functions": sorted(deployment.functions),
                "mappings": [m.uuid for m in deployment.mappings],
                "schedules": [s.rule_name for s in deployment.schedules],
            },
        )

    def deployed_version(self, *, template_recheck: float = 0.0) -> str | None:
        """A fingerprint of the deployment now; None when there is no stack to play (StackReader.deployed_version)."""
        return self._reader.deployed_version(self._deployment.version, template_recheck=template_recheck)

    def refresh(self, *, template_recheck: float = 0.0) -> bool:
        """Read the stack again if its deployment changed since discover(); True when it changed.

        A new deployment (make-infra --local updated or re-created the stack) is discovered; when
        the stack is gone (teardown) every function is forgotten and its workers stop, so nothing is
        invoked, polled or fired until a stack of this name is deployed again. Raises what discover()
        raises; the version stays the old one then, so the next refresh tries again.
        `template_recheck`: see deployed_version.
        """
        with self._refresh_lock:
            version = self.deployed_version(template_recheck=template_recheck)
            if version == self._deployment.version:
                return False
            if version is None:
                self._forget()
                log.info("stack gone; nothing is played until it is deployed again", extra={"stack": self.stack_name})
            else:
                self.discover()
            return True

    def _forget(self) -> None:
        pools = self._invoker.forget()
        self._deployment = Deployment()
        # Workers stop in the background, so run() can stop the pollers of the deleted queues at once.
        threading.Thread(target=lambda: [pool.retire() for pool in pools], name="retire", daemon=True).start()

    def _role_check(self, action: str, resource: str, role_arn: str) -> str | None:
        answer = self.roles.decide(action=action, resource=resource, role_arn=role_arn)
        return None if answer.allowed else answer.message

    def log_path(self, function: str) -> Path | None:
        """Where the function's output is written; None when its role may not write logs (Lambda drops them)."""
        return self._invoker.log_path(function)

    def has_function(self, function: str) -> bool:
        """Whether the stack as last read has this function (by name, ARN or logical id)."""
        try:
            self._invoker.spec(function)
        except KeyError:
            return False
        return True

    # -- invocations ------------------------------------------------------------------------------

    def prewarm(self, per_function: int = 2) -> list[threading.Thread]:
        """Start execution environments ahead of the first invocations, in the background, as
        provisioned concurrency would: up to `per_function` workers of each function an event
        source mapping feeds (never more than its concurrency), one of every other function (a
        schedule invokes it once a tick). Returns the starting threads (join them to wait)."""
        return self._invoker.prewarm(per_function, {m.function for m in self.mappings})

    def invoke(self, function: str, event: Any) -> InvokeResult:
        """Invoke synchronously (RequestResponse); the function's failures are in the result, never raised.
        Every invocation (a poll's, a tick's, the Invoke API's) publishes Lambda's invocation metrics."""
        name = self._invoker.spec(function).name
        result = self._invoker.invoke(function, event)
        publish_invocation(self._cloudwatch, name, result)
        return result

    def errors(self, function: str, within_seconds: float) -> int:
        """Failed invocations of `function` (its name) in the last `within_seconds`: the Errors metric's
        Sum over that period, which local mode's alarms (watchlist_workstation/local/alarms.py) read."""
        return self._invoker.errors(function, within_seconds)

    def inspect(self, function: str, modules: Iterable[str] = ()) -> dict[str, Any]:
        """Ask a warm worker of `function` for its import path and where the named modules come from."""
        return self._invoker.inspect(function, modules)

    def workers(self, function: str) -> WorkerPool:
        """The warm workers of `function` (by name, ARN or logical id): how many started, which are idle."""
        return self._invoker.pool(function)

    # -- schedules and queues ---------------------------------------------------------------------

    def fire_schedule(self, rule_name: str | None = None) -> InvokeResult:
        """One tick of a schedule rule (the stack's only enabled one by default), sent to its target."""
        return self._scheduler.fire(rule_name)

    def poll_once(
        self, mapping: MappingSpec, *, wait_seconds: float = 0.0, flush_when_empty: bool = False
    ) -> PollReport:
        """One batch of `mapping`: gather, invoke, delete what succeeded (SqsPoller.poll_once)."""
        return self._poller.poll_once(mapping, wait_seconds=wait_seconds, flush_when_empty=flush_when_empty)

    def watch_polls(self, callback: Callable[[PollReport], None]) -> None:
        """Hand the report of every poll, by any poller, to `callback` (quick and thread-safe, please)."""
        self._poller.watch(callback)

    def drain(self, *, timeout: float = 300, idle_rounds: int = 2) -> DrainReport:
        """Poll every mapping until each queue shows nothing visible, in flight or delayed on
        `idle_rounds` checks in a row, or `timeout` seconds pass (SqsPoller.drain)."""
        return self._poller.drain(timeout, idle_rounds)

    def fire_and_drain(
        self,
        rule_name: str | None = None,
        *,
        timeout: float = 300,
        idle_rounds: int = 2,
        on_tick: Callable[[InvokeResult], None] | None = None,
    ) -> tuple[InvokeResult, DrainReport]:
        """One schedule tick (fire_schedule) with the pollers already running, then drain.

        On AWS the event source mapping polls while the producer sends, so the queue drains as it
        fills; firing first and draining after would add the producer's whole run to the time a
        batch of companies takes (about a third of it at 3,000 companies). The idle checks start
        once the tick has returned, so a queue still empty at the start does not end the drain.
        The tick's result comes back even when it failed: whatever it queued is drained anyway.
        `on_tick(result)` hears it as soon as the tick returns, while the queue is still draining.
        """
        ticks: list[InvokeResult] = []

        def fire() -> None:
            ticks.append(self.fire_schedule(rule_name))
            if on_tick is not None:
                on_tick(ticks[0])

        report = self._poller.drain(timeout, idle_rounds, first=fire)
        report.ticks = len(ticks)
        return ticks[0], report

    def run(
        self,
        stop: threading.Event,
        *,
        rate_seconds: float | None = None,
        fire_now: bool = False,
        watch_seconds: float = STACK_WATCH_SECONDS,
    ) -> DrainReport:
        """Fire the schedules and poll the mappings until `stop` is set, following redeployments (Scheduler.run)."""
        return self._scheduler.run(stop, rate_seconds=rate_seconds, fire_now=fire_now, watch_seconds=watch_seconds)

    # -- lifecycle --------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop every worker. Mappings stay disabled in moto (discovery.py says why)."""
        self._invoker.close()

    def __enter__(self) -> LocalLambda:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
