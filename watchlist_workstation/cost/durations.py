"""How long the functions run: from the round trips an invocation makes, as the code makes them, and the
waits of the Wikipedia pace, unless the assumptions give a measured duration. Durations drive Lambda's
GB-seconds."""

from __future__ import annotations

import math

from lib.limits import SCAN_SEGMENTS, SEND_WORKERS, WRITE_WORKERS
from watchlist_workstation.cost.assumptions import Assumptions
from watchlist_workstation.cost.units import scan_pages

# Round trips inside a Lambda function, in seconds (typical same-region AWS latencies, an Action API
# request to Wikipedia, and the prototype's REST summary fetch); they drive the GB-seconds. Override the
# results with --producer-seconds and --consumer-seconds when you have measured durations (the REPORT
# lines of the functions' logs).
FUNCTION_START_SECONDS = 0.3
SQS_CALL_SECONDS = 0.02
# One Scan page: up to 1 MB read and parsed by botocore (docs/design.md: 100,000 items in a few seconds).
SCAN_PAGE_SECONDS = 0.3
WIKI_REQUEST_SECONDS = 0.3
TEXT_FETCH_SECONDS = 0.15
COMPREHEND_CALL_SECONDS = 0.4
S3_PUT_SECONDS = 0.05
# The Compactor's (cost/compaction.py): a small GET or DELETE, and a ListObjectsV2 page of up to 1,000 keys.
S3_GET_SECONDS = 0.03
S3_DELETE_SECONDS = 0.03
S3_LIST_SECONDS = 0.1
DDB_CALL_SECONDS = 0.01
CLIENT_CREATE_SECONDS = 0.05


def producer_seconds(table_bytes: float, sends: int, a: Assumptions) -> float:
    """The scan's pages, SCAN_SEGMENTS at a time, while SendMessageBatch calls go SEND_WORKERS at a time
    (lib/producer.py)."""
    if a.producer_seconds is not None:
        return a.producer_seconds
    return (
        FUNCTION_START_SECONDS
        + math.ceil(scan_pages(table_bytes, SCAN_SEGMENTS) / SCAN_SEGMENTS) * SCAN_PAGE_SECONDS
        + math.ceil(sends / SEND_WORKERS) * SQS_CALL_SECONDS
    )


def wiki_seconds(requests: float, interval: float) -> float:
    """The time `requests` Wikipedia requests take in series through the pace (lib/pace.py): a request starts
    `interval` seconds after the previous one started (or after the instance's start, or its previous
    invocation's last request: on a busy instance the first one waits too), and the last answer takes a
    round trip."""
    if requests <= 0:
        return 0.0
    return requests * max(interval, WIKI_REQUEST_SECONDS) + WIKI_REQUEST_SECONDS


def consumer_seconds(
    wiki_requests: float, interval: float, comprehend_calls: float, puts: float, updates: float, a: Assumptions
) -> float:
    """One consumer invocation: its Wikipedia requests through the pace, then Comprehend, the table's
    UpdateItems (WRITE_WORKERS at a time) and the results object (lib/consumer.py, lib/recording.py)."""
    if a.consumer_seconds is not None:
        return a.consumer_seconds
    return (
        FUNCTION_START_SECONDS
        + wiki_seconds(wiki_requests, interval)
        + comprehend_calls * COMPREHEND_CALL_SECONDS
        + math.ceil(updates / WRITE_WORKERS) * DDB_CALL_SECONDS
        + puts * S3_PUT_SECONDS
    )
