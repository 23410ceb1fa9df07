"""Producer: on each schedule tick, queue every company on the watchlist for analysis."""

from __future__ import annotations

import uuid
from typing import Any

from lib.clock import iso
from lib.config import ProducerConfig
from lib.log import correlation, get_logger
from lib.producer import queue_companies

log = get_logger("producer.handler")


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # The EventBridge event's id names this run and follows every message as its correlation id;
    # a hand-made invocation without one gets a fresh id.
    event = event if isinstance(event, dict) else {}
    run_id = str(event.get("id") or uuid.uuid4())
    requested_at = str(event.get("time") or iso())
    with correlation(run_id):
        config = ProducerConfig.from_env()
        log.info("tick", extra={"source": event.get("source"), "requested_at": requested_at})
        return queue_companies(config, run_id, requested_at)
