"""Consumer: check the companies in one SQS batch of chunks, analyse what changed, report the records that failed."""

from __future__ import annotations

import functools
from typing import Any

from lib.clock import Deadline
from lib.config import ConsumerConfig
from lib.consumer import process_batch
from lib.pace import Pace, interval_for
from lib.webclient import WebClient
from lib.wikipedia import Wikipedia, variant


@functools.lru_cache(maxsize=1)
def _setup() -> tuple[ConsumerConfig, Wikipedia]:
    # Built on the first invocation, not at import, and kept for the life of the execution environment,
    # the pace included: consecutive invocations on this instance keep their spacing (lib/pace.py).
    config = ConsumerConfig.from_env()
    pace = Pace(interval_for(config.requests_per_minute, config.max_concurrency))
    client = WebClient(config.text_source_url, config.user_agent_contact, pace=pace)
    return config, Wikipedia(client, variant(config.language_code))


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config, wiki = _setup()
    outcome = process_batch(event.get("Records", []), config, wiki, deadline=Deadline.of_invocation(context))
    # Lambda deletes every record not listed here; the listed ones return to the queue.
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in outcome.failures]}
