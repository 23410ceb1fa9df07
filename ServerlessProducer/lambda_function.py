"""Producer: on each schedule tick, queue the part of the watchlist this tick checks, in chunks."""

from __future__ import annotations

import uuid
from typing import Any

from lib.clock import Deadline, iso
from lib.config import ProducerConfig
from lib.log import correlation, get_logger
from lib.producer import queue_tick

log = get_logger("producer.handler")


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # The EventBridge event's id names this run and follows every message as its correlation id; its time
    # numbers the tick. A hand-made invocation without them gets a fresh id and the current time.
    event = event if isinstance(event, dict) else {}
    run_id = str(event.get("id") or uuid.uuid4())
    requested_at = str(event.get("time") or iso())
    deadline = Deadline.of_invocation(context)  # the scan stops early enough for the sends (lib/producer.py)
    with correlation(run_id):
        config = ProducerConfig.from_env()
        log.info("tick", extra={"source": event.get("source"), "requested_at": requested_at})
        return queue_tick(config, run_id, requested_at, deadline=deadline)
