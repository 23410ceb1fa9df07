"""Producer: on each schedule tick, queue the part of the watchlist this tick checks, in chunks."""

from __future__ import annotations

import time
import uuid
from typing import Any

from lib.clock import iso
from lib.config import ProducerConfig
from lib.log import correlation, get_logger
from lib.producer import queue_tick

log = get_logger("producer.handler")
# Time kept back from the invocation's for sending what the scan planned: 15 s, or a quarter of a short timeout.
RESERVE_SECONDS = 15.0


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # The EventBridge event's id names this run and follows every message as its correlation id; its time
    # numbers the tick. A hand-made invocation without them gets a fresh id and the current time.
    event = event if isinstance(event, dict) else {}
    run_id = str(event.get("id") or uuid.uuid4())
    requested_at = str(event.get("time") or iso())
    remaining = context.get_remaining_time_in_millis() / 1000.0 if context is not None else 60.0
    deadline = time.monotonic() + remaining - min(RESERVE_SECONDS, remaining / 4)
    with correlation(run_id):
        config = ProducerConfig.from_env()
        log.info("tick", extra={"source": event.get("source"), "requested_at": requested_at})
        return queue_tick(config, run_id, requested_at, deadline=deadline)
