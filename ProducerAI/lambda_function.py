"""Consumer: analyse the companies in one SQS batch and report the records that failed."""

from __future__ import annotations

import functools
from typing import Any

from lib.config import ConsumerConfig
from lib.consumer import lambda_deadline, process_batch
from lib.textsource import TextSource


@functools.lru_cache(maxsize=1)
def _setup() -> tuple[ConsumerConfig, TextSource]:
    # Built on the first invocation, not at import, and kept for the life of the execution environment.
    config = ConsumerConfig.from_env()
    return config, TextSource(config.text_source_url, config.user_agent_contact)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config, text_source = _setup()
    outcome = process_batch(event.get("Records", []), config, text_source, deadline=lambda_deadline(context))
    # Lambda deletes every record not listed here; the listed ones return to the queue.
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in outcome.failures]}
