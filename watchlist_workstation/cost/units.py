"""Billing rules that turn requests into billed units: Comprehend's 100-character units, DynamoDB's
item sizes and capacity units. Pure functions with no imports beyond the standard library, so the
local Comprehend endpoint can count billed units with the same rule the estimate prices.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from watchlist_workstation.limits import COMPREHEND_MIN_UNITS, COMPREHEND_UNIT_CHARS

# DynamoDB (developer guide, "Capacity unit consumption"): a read unit covers 4 KB (an eventually
# consistent read costs half of one), a write unit 1 KB; a Scan or Query adds up the sizes of the items
# it reads and rounds the sum up once per request; BatchGetItem rounds each item up on its own.
DDB_READ_UNIT_BYTES = 4096
DDB_WRITE_UNIT_BYTES = 1024
DDB_EVENTUALLY_CONSISTENT = 0.5
# A Scan page stops after 1 MB of items read (DynamoDB API reference, Scan).
DDB_SCAN_PAGE_BYTES = 1024 * 1024
# Storage is billed on the items' sizes plus 100 bytes of index overhead per item (DynamoDB pricing,
# "Data storage").
DDB_STORAGE_OVERHEAD_BYTES = 100
# SQS bills every API action as a request, and each 64 KB chunk of its payload as one more request
# (SQS pricing; the price table's note on sqs.requests).
SQS_BILLED_CHUNK_BYTES = 64 * 1024


def comprehend_units(characters: int) -> int:
    """Billed units for one document: 100-character units, at least 3 (Comprehend pricing)."""
    return max(COMPREHEND_MIN_UNITS, math.ceil(characters / COMPREHEND_UNIT_CHARS))


def _number_bytes(text: str) -> int:
    # "Numbers are variable length, with up to 38 significant digits. Leading and trailing zeroes are
    # trimmed. The size of a number is approximately (length of attribute name) + (1 byte per two
    # significant digits) + (1 byte)." (DynamoDB developer guide, "Item sizes and formats")
    try:
        digits = Decimal(text).normalize().as_tuple().digits
    except InvalidOperation:
        digits = tuple(c for c in text if c.isdigit())
    return math.ceil(max(1, len(digits)) / 2) + 1


def value_bytes(value: Mapping[str, Any]) -> int:
    """The size DynamoDB counts for one attribute value in its wire form ({"S": ...}, {"N": ...}, ...)."""
    (kind, data), *_ = value.items()
    if kind == "S":
        return len(data.encode("utf-8"))
    if kind == "N":
        return _number_bytes(data)
    if kind == "B":
        return len(data) if isinstance(data, bytes | bytearray) else math.ceil(len(data) * 3 / 4)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in data)
    if kind == "NS":
        return sum(_number_bytes(n) for n in data)
    if kind == "BS":
        return sum(len(b) for b in data)
    if kind == "L":
        return 3 + sum(1 + value_bytes(v) for v in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + value_bytes(v) for k, v in data.items())
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def item_bytes(item: Mapping[str, Mapping[str, Any]]) -> int:
    """An item's size as DynamoDB bills reads and writes: attribute names plus values."""
    return sum(len(name.encode("utf-8")) + value_bytes(value) for name, value in item.items())


def scan_read_units(table_bytes: float, segments: int = 1) -> float:
    """Read units one eventually consistent Scan of the whole table consumes, page by page. A parallel scan of
    `segments` reads each segment's share in pages of its own, each page rounded up on its own."""
    full_pages, rest = divmod(max(0.0, table_bytes) / segments, DDB_SCAN_PAGE_BYTES)
    units_per_full_page = DDB_SCAN_PAGE_BYTES / DDB_READ_UNIT_BYTES
    # Even an empty page is a request that consumes the minimum, half a unit.
    last_page = max(1, math.ceil(rest / DDB_READ_UNIT_BYTES)) if rest or not full_pages else 0
    return segments * (full_pages * units_per_full_page + last_page) * DDB_EVENTUALLY_CONSISTENT


def scan_pages(table_bytes: float, segments: int = 1) -> int:
    """Scan requests a paginated read of the whole table makes: at least one per segment, even when empty."""
    return segments * max(1, math.ceil(max(0.0, table_bytes) / segments / DDB_SCAN_PAGE_BYTES))


def sqs_requests(payload_bytes: float) -> int:
    """Requests SQS bills for one API call carrying `payload_bytes`: one per started 64 KB (SQS pricing)."""
    return max(1, math.ceil(payload_bytes / SQS_BILLED_CHUNK_BYTES))


def get_read_units(item_size: float) -> float:
    """Read units of one eventually consistent read of an item (GetItem, or one key of a BatchGetItem)."""
    return max(1, math.ceil(item_size / DDB_READ_UNIT_BYTES)) * DDB_EVENTUALLY_CONSISTENT


def write_units(item_size: float) -> int:
    """Write units of one write (PutItem, UpdateItem: the larger of the item before and after)."""
    return max(1, math.ceil(item_size / DDB_WRITE_UNIT_BYTES))
