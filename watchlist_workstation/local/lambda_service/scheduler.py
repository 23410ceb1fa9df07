"""EventBridge's scheduler, played locally: schedule ticks, and the loop `local up` runs until stopped.

A tick sends the rule's target the event EventBridge sends (events.py), or the target's constant
Input when it has one. Rules with a rate() expression tick at their period (or at a rate given to
`run`); cron() rules are not ticked: they can be fired by name (the compactor's daily rule is, by
`./cfcli.py --local compact`, which invokes its function). An error in a scheduled
invocation is not retried: EventBridge's asynchronous invoke would retry twice, but here the next
tick reads the whole watchlist again anyway.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lib.log import get_logger
from watchlist_workstation.local.lambda_service.events import schedule_event
from watchlist_workstation.local.lambda_service.invoker import InvokeResult
from watchlist_workstation.local.lambda_service.poller import DrainReport, SqsPoller
from watchlist_workstation.local.lambda_service.specs import Deployment, ScheduleSpec

log = get_logger("local.lambda_service")

# How often `run` looks at whether the stack was updated, re-created or deleted (make-infra --local,
# teardown --local): one DescribeStacks, so a stack deleted under the pollers is noticed soon. The
# processed template (a larger answer for moto to build) is read again only when the description
# changed or TEMPLATE_RECHECK_SECONDS passed: an update that changes only the template shows then.
STACK_WATCH_SECONDS = 0.5
TEMPLATE_RECHECK_SECONDS = 3.0


class Scheduler:
    """Fires the schedules of `deployment()` through `invoke`; `run` also keeps `poller` polling and
    calls `refresh(template_recheck=...)` to follow the stack as it is redeployed."""

    def __init__(
        self,
        *,
        stack_name: str,
        invoke: Callable[[str, Any], InvokeResult],
        poller: SqsPoller,
        deployment: Callable[[], Deployment],
        refresh: Callable[..., bool],
    ) -> None:
        self.stack_name = stack_name
        self._invoke, self._poller, self._deployment, self._refresh = invoke, poller, deployment, refresh
        self._lock = threading.Lock()

    def rule(self, rule_name: str | None) -> ScheduleSpec:
        """The named rule; without a name, the stack's only enabled rate() one, the one that ticks (KeyError
        otherwise)."""
        deployment = self._deployment()
        if rule_name is not None:
            for rule in deployment.schedules:
                if rule.rule_name == rule_name:
                    return rule
            raise KeyError(f"no schedule rule {rule_name!r} in stack {self.stack_name}")
        enabled = [rule for rule in deployment.enabled_schedules() if rule.period_seconds is not None]
        if len(enabled) != 1:
            names = ", ".join(rule.rule_name for rule in enabled) or "none"
            raise KeyError(f"name the rule to fire: the stack has {len(enabled)} enabled schedules ({names})")
        return enabled[0]

    def fire(self, rule_name: str | None = None) -> InvokeResult:
        """One tick of a schedule rule (the stack's only enabled rate() one by default), sent to its target."""
        rule = self.rule(rule_name)
        event = json.loads(rule.input) if rule.input is not None else schedule_event(rule)
        result = self._invoke(rule.function, event)
        log.info("schedule fired", extra={"rule": rule.rule_name, "ok": result.ok, "error_type": result.error_type})
        return result

    def run(
        self,
        stop: threading.Event,
        *,
        rate_seconds: float | None = None,
        fire_now: bool = False,
        watch_seconds: float = STACK_WATCH_SECONDS,
    ) -> DrainReport:
        """Fire each enabled rate() schedule every period (its own, or `rate_seconds`) and poll every
        mapping, until `stop` is set. The first tick comes one period after the start, as for a new
        rule, unless `fire_now`. cron() rules are not ticked locally (one line says so).

        Every `watch_seconds` the stack is read again (refresh): when make-infra --local updated or
        re-created it, pollers and schedules restart on what is deployed now (a rule that stays
        keeps its ticking; a new one first ticks one period later); while there is no stack
        (after teardown) nothing is polled or fired, quietly, until one is deployed again.
        """
        enabled = [rule for rule in self._deployment().enabled_schedules() if rule.period_seconds is not None]
        started = time.monotonic()
        report = DrainReport()
        # rule name -> when it ticks next (monotonic), kept across redeployments.
        next_ticks = {rule.rule_name: started for rule in enabled} if fire_now else {}
        unreadable: str | None = None
        while not stop.is_set():
            deployment = self._deployment()
            phase = threading.Event()  # ends this deployment's pollers and tickers
            pollers = self._poller.start(phase, report)
            tickers = []
            for rule in deployment.enabled_schedules():
                if rule.period_seconds is None:
                    log.info("cron is not ticked locally; fire the rule by name", extra={"rule": rule.rule_name})
                    continue
                period = rate_seconds or rule.period_seconds
                next_ticks.setdefault(rule.rule_name, time.monotonic() + period)
                tickers.append(
                    threading.Thread(
                        target=self._tick_loop,
                        args=(rule, period, phase, report, next_ticks),
                        name=f"tick-{rule.rule_name}",
                        daemon=True,
                    )
                )
            for ticker in tickers:
                ticker.start()
            try:
                while not stop.wait(watch_seconds):
                    try:
                        self._refresh(template_recheck=TEMPLATE_RECHECK_SECONDS)
                        unreadable = None
                    except Exception as exc:
                        # moto busy or the stack half-made: keep playing what was read, say so once.
                        if repr(exc) != unreadable:
                            log.warning("could not read the stack; trying again", extra={"error": repr(exc)})
                        unreadable = repr(exc)
                    if self._deployment().version != deployment.version:
                        break
            finally:
                phase.set()
                for ticker in tickers:
                    ticker.join()
                pollers.shutdown(wait=True)
        report.seconds = time.monotonic() - started
        return report

    def _tick_loop(
        self,
        rule: ScheduleSpec,
        period: float,
        stop: threading.Event,
        report: DrainReport,
        next_ticks: dict[str, float],
    ) -> None:
        """Fire `rule` at next_ticks[rule name], then every `period`, until `stop`; the time of the next
        tick is left in `next_ticks` for the loop that plays the next deployment."""
        while not stop.wait(max(0.0, next_ticks[rule.rule_name] - time.monotonic())):
            try:
                result = self.fire(rule.rule_name)
            except (KeyError, ClientError, BotoCoreError) as exc:
                # The stack changed under the tick (the rule or its function is gone); run() catches up.
                log.warning("schedule not fired", extra={"rule": rule.rule_name, "error": repr(exc)})
            else:
                with self._lock:
                    report.ticks += 1
                if not result.ok:
                    log.error("scheduled invocation failed", extra={"rule": rule.rule_name, "error": result.error_type})
            # Ticks missed while one ran long are skipped, not fired in a burst.
            while next_ticks[rule.rule_name] <= time.monotonic():
                next_ticks[rule.rule_name] += period
