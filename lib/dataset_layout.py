"""The dataset's contract: its schema (columns, types, version), where its objects live, and how a
compacted day is found. Writers (lib.results, lib.compaction) and readers (the CLI, the dashboard,
the Glue table, DuckDB) all take it from here; docs/dataset.md documents it.

A day's partition `<prefix>/dt=YYYY-MM-DD/` holds two kinds of data object, both JSON Lines:
- `part-<32 hex>.jsonl`, one per consumer batch (older deployments wrote `part-<32 hex>.csv`);
- `compact-<16 hex>-<i>of<K>.jsonl.gz`, written by compaction: the day's rows, in K objects, a company's
  rows all in object `bucket_of(name, K)`.
A day's manifest, `<manifests>/dt=YYYY-MM-DD.json`, outside the table's location, says which compacted
objects are current and which batch objects they replaced. It is written after the compacted objects and
before anything is deleted: it is compaction's commit point.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from dataclasses import dataclass
from typing import Any

# Version 1 was the CSV layout without `schema_version`; version 2 is JSON Lines with it.
SCHEMA_VERSION = 2

# (column, Athena/Glue type), in the order each row writes them. docs/dataset.md explains each.
SCHEMA: tuple[tuple[str, str], ...] = (
    ("name", "string"),
    ("sentiment", "string"),
    ("positive", "double"),
    ("negative", "double"),
    ("neutral", "double"),
    ("mixed", "double"),
    ("text", "string"),
    ("text_sha256", "string"),
    ("source_url", "string"),
    ("analyzed_at", "string"),
    ("run_id", "string"),
    ("revision", "bigint"),
    ("schema_version", "int"),
)
COLUMNS = tuple(column for column, _ in SCHEMA)
# The partition column: the UTC date of the rows' analyzed_at, as YYYY-MM-DD (a string).
PARTITION = ("dt", "string")

RESULTS_PREFIX = "results"  # the functions' RESULTS_PREFIX in template.yml: where the rows are
MANIFESTS_PREFIX = "manifests"
# Compaction writes at most this many objects per day, whatever the watchlist's size.
MAX_OBJECTS_PER_DAY = 24

_DAY = r"\d{4}-\d{2}-\d{2}"
_BATCH = re.compile(rf"(?:^|/)dt=({_DAY})/part-[0-9a-f]{{32}}\.(jsonl|csv)$")
_COMPACTED = re.compile(rf"(?:^|/)dt=({_DAY})/compact-([0-9a-f]{{16}})-(\d{{2}})of(\d{{2}})\.jsonl\.gz$")


Row = dict[str, Any]

_FLOATS = ("positive", "negative", "neutral", "mixed")


class MalformedObject(ValueError):
    """A data object that is not rows of the dataset; the message says why in a few words."""


def encode_rows(rows: list[Row]) -> bytes:
    """JSON Lines: one row per line, the columns in SCHEMA order (`name` first, see line_prefix), UTF-8.

    JSON escapes a line break inside a text as `\\n`, so each row stays one physical line: Athena's JSON
    SerDe and DuckDB read multi-paragraph intros whole (docs/dataset.md, "Why JSON Lines").
    """
    lines = []
    for row in rows:
        record = {column: row.get(column) for column in COLUMNS}
        record["schema_version"] = SCHEMA_VERSION
        lines.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def line_prefix(name: str) -> bytes:
    """How every encoded line of company `name` begins: a reader can skip other companies' lines unparsed."""
    return ('{"name":' + json.dumps(name, ensure_ascii=False) + ",").encode("utf-8")


def decode_object(key: str, body: bytes, name: str | None = None) -> list[Row]:
    """The rows of a data object (JSON Lines, gzip'd JSON Lines or the older CSV), only `name`'s when given.

    Each row is a dict with every column of SCHEMA; rows of the CSV layout have schema_version 1 and, when
    written before rows carried it, revision None. Raises MalformedObject when the body is not rows.
    """
    try:
        if key.endswith(".gz"):
            body = gzip.decompress(body)
        if key.endswith(".csv"):
            rows = _decode_csv(body)
            return [row for row in rows if name is None or row["name"] == name]
        prefix = line_prefix(name) if name is not None else None
        return [
            _typed(json.loads(line))
            for line in body.splitlines()
            if line.strip() and (prefix is None or line.startswith(prefix))
        ]
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise MalformedObject(f"not rows of the dataset ({type(exc).__name__}: {exc})") from exc


def _typed(record: Any) -> Row:
    if not isinstance(record, dict) or not isinstance(record.get("name"), str):
        raise ValueError("a line is not a row object with a name")
    row = {column: record.get(column) for column in COLUMNS}
    for column in _FLOATS:
        row[column] = float(row[column])
    return row


def _decode_csv(body: bytes) -> list[Row]:
    reader = csv.reader(io.StringIO(body.decode("utf-8"), newline=""))
    header = next(reader, None)
    legacy = COLUMNS[: COLUMNS.index("revision")]
    if header is None or tuple(header) not in (legacy, legacy + ("revision",)):
        raise ValueError("the header is not the dataset's")
    rows = []
    for cells in reader:
        if len(cells) != len(header):
            raise ValueError(f"a row has {len(cells)} cells, the header {len(header)}")
        row: Row = dict(zip(header, cells, strict=True))
        revision = row.get("revision") or None
        row.update(revision=int(revision) if revision else None, schema_version=1)
        rows.append(_typed(row))
    return rows


def bucket_of(name: str, buckets: int) -> int:
    """Which of a compacted day's `buckets` objects holds the company `name`'s rows."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:4], "big") % buckets


def day_prefix(prefix: str, day: str) -> str:
    return f"{prefix.strip('/')}/dt={day}/"


def manifest_key(day: str, manifests: str = MANIFESTS_PREFIX) -> str:
    return f"{manifests.strip('/')}/dt={day}.json"


def compacted_key(prefix: str, day: str, digest: str, index: int, buckets: int) -> str:
    return f"{day_prefix(prefix, day)}compact-{digest[:16]}-{index:02d}of{buckets:02d}.jsonl.gz"


def batch_object(key: str) -> bool:
    """Whether `key` is a consumer batch's object (JSON Lines or the older CSV)."""
    return _BATCH.search(key) is not None


def compacted_object(key: str) -> bool:
    return _COMPACTED.search(key) is not None


def day_of(key: str) -> str | None:
    """The partition date of a data object's key, or None for any other key."""
    match = _BATCH.search(key) or _COMPACTED.search(key)
    return match.group(1) if match else None


@dataclass(frozen=True)
class Manifest:
    """What compaction committed for one day: its current compacted objects and the batch objects they hold."""

    day: str
    buckets: int
    objects: tuple[tuple[str, int, int], ...]  # (key, bucket index, rows)
    replaced: frozenset[str]  # batch-object keys whose rows the compacted objects hold
    rows: int

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "schema_version": SCHEMA_VERSION,
                "day": self.day,
                "buckets": self.buckets,
                "objects": [{"key": key, "bucket": index, "rows": rows} for key, index, rows in self.objects],
                "replaced": sorted(self.replaced),
                "rows": self.rows,
            },
            indent=1,
        ).encode("utf-8")

    @classmethod
    def from_json(cls, body: bytes) -> Manifest:
        data: dict[str, Any] = json.loads(body)
        return cls(
            day=data["day"],
            buckets=int(data["buckets"]),
            objects=tuple((o["key"], int(o["bucket"]), int(o["rows"])) for o in data["objects"]),
            replaced=frozenset(data["replaced"]),
            rows=int(data["rows"]),
        )

    def holds(self, key: str) -> bool:
        """Whether the rows of batch object `key` are in this day's compacted objects."""
        return key in self.replaced

    def current(self, name: str | None = None) -> list[str]:
        """The compacted objects to read: all of them, or only the one that holds company `name`'s rows."""
        if name is None:
            return [key for key, _, _ in self.objects]
        wanted = bucket_of(name, self.buckets)
        return [key for key, index, _ in self.objects if index == wanted]


def keys_to_read(day_keys: list[str], manifest: Manifest | None, name: str | None = None) -> list[str]:
    """Of one day's listed keys, those a reader reads so that each row is read once.

    With a manifest: its current compacted objects (only `name`'s, when given) and the batch objects it
    does not hold (written after it, or by an older deployment). Without one: every batch object.
    Compacted objects a manifest does not name (a compaction that died before its commit, or one
    replaced by a later compaction and not yet deleted) are never read.
    """
    batches = [key for key in day_keys if batch_object(key)]
    if manifest is None:
        return sorted(batches)
    return sorted(manifest.current(name)) + sorted(key for key in batches if not manifest.holds(key))
