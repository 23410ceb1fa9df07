"""How long the functions run: from the round trips an invocation makes, as the code makes them, unless
the assumptions give a measured duration. Durations drive Lambda's GB-seconds."""

from __future__ import annotations

import math

from lib.limits import DDB_BATCH_GET, FETCH_WORKERS, SEND_WORKERS, SQS_SEND_BATCH, WRITE_WORKERS
from watchlist_workstation.cost.assumptions import Assumptions
from watchlist_workstation.cost.units import scan_pages

# Round trips inside a Lambda function, in seconds (typical same-region AWS latencies and a Wikipedia
# REST summary fetch); they drive the GB-seconds. Override the results with --producer-seconds and
# --consumer-seconds when you have measured durations (the REPORT lines of the functions' logs).
FUNCTION_START_SECONDS = 0.3
SQS_CALL_SECONDS = 0.02
TEXT_FETCH_SECONDS = 0.15
COMPREHEND_CALL_SECONDS = 0.4
S3_PUT_SECONDS = 0.05
DDB_CALL_SECONDS = 0.01
CLIENT_CREATE_SECONDS = 0.05


def producer_seconds(companies: int, a: Assumptions) -> float:
    if a.producer_seconds is not None:
        return a.producer_seconds
    sends = math.ceil(companies / SQS_SEND_BATCH)
    # The sends run SEND_WORKERS at a time while the scan is read (lib/producer.py).
    return (
        FUNCTION_START_SECONDS
        + scan_pages(companies * a.item_bytes) * DDB_CALL_SECONDS
        + (math.ceil(sends / SEND_WORKERS) * SQS_CALL_SECONDS)
    )


def consumer_seconds(records: float, analysed: float, comprehend_calls: float, puts: float, a: Assumptions) -> float:
    """One consumer invocation of `records`: fetches FETCH_WORKERS at a time, then Comprehend, S3, writes."""
    if a.consumer_seconds is not None:
        return a.consumer_seconds
    return (
        FUNCTION_START_SECONDS
        + math.ceil(records / DDB_BATCH_GET) * DDB_CALL_SECONDS
        + math.ceil(records / FETCH_WORKERS) * TEXT_FETCH_SECONDS
        + comprehend_calls * COMPREHEND_CALL_SECONDS
        + puts * S3_PUT_SECONDS
        + math.ceil(analysed / WRITE_WORKERS) * DDB_CALL_SECONDS
    )
