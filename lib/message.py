"""The work message: a chunk of companies the producer queues, and the consumer reads back.

One message carries up to CHUNK_COMPANIES companies (as many as one revision request checks), each
with what the producer's scan read from the table about it: the page revision last checked, the text
hash last analysed and the error last recorded. The consumer decides from that snapshot what changed,
without a table read per company (docs/design.md, "Reading Wikipedia politely").

The body is JSON: {"v": 2, "run_id", "requested_at", "companies": [{"name", "title"?, "rev"?, "page"?,
"sha"?, "err"?, "label"?}]}. A message of the earlier one-company shape, {"name", "run_id", "requested_at"}, may
still sit in the queue when a stack is updated; it reads as a chunk of one company whose snapshot is
unknown, which the consumer then reads from the table.

The run's correlation id travels as the `correlation_id` String message attribute, which Lambda's SQS
event carries as messageAttributes.<name>.stringValue (Lambda developer guide, "Using Lambda with
Amazon SQS", the example event).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lib.clock import parse_iso
from lib.names import InvalidName, validate_name

CORRELATION_ATTRIBUTE = "correlation_id"
VERSION = 2


class BadMessage(ValueError):
    """A record whose body is not a message the producer sends; the message says what is wrong."""


@dataclass(frozen=True)
class Company:
    """One company of a chunk, with the table's state of it when the producer scanned."""

    name: str
    title: str | None = None  # the page to read, when the watchlist names one; else the name itself
    revision: int | None = None  # the page revision last checked
    page: str | None = None  # that revision's page title (after redirects)
    text_sha256: str | None = None  # the intro last analysed
    last_error: str | None = None  # the permanent error last recorded
    label: str | None = None  # the sentiment label last recorded (a change of it is notified)

    @property
    def page_title(self) -> str:
        return self.title or self.name

    def to_json(self) -> dict[str, Any]:
        fields = {"title": self.title, "rev": self.revision, "page": self.page}
        fields.update(sha=self.text_sha256, err=self.last_error, label=self.label)
        return {"name": self.name, **{k: v for k, v in fields.items() if v is not None}}

    @classmethod
    def from_json(cls, entry: Any) -> Company:
        if not isinstance(entry, dict):
            raise BadMessage("a company entry is not a JSON object")
        try:
            name = validate_name(entry.get("name"))
        except InvalidName as exc:
            raise BadMessage(f"invalid name: {exc}") from exc
        revision = entry.get("rev")
        if revision is not None and (not isinstance(revision, int) or isinstance(revision, bool) or revision < 0):
            raise BadMessage(f"{name!r}: rev is not a revision id")
        texts = {key: entry.get(key) for key in ("title", "page", "sha", "err", "label")}
        if any(value is not None and (not isinstance(value, str) or not value) for value in texts.values()):
            raise BadMessage(f"{name!r}: title, page, sha, err and label must be non-empty strings when present")
        return cls(name, texts["title"], revision, texts["page"], texts["sha"], texts["err"], texts["label"])


@dataclass(frozen=True)
class WorkMessage:
    run_id: str
    requested_at: str  # the tick's time, ISO-8601 UTC
    companies: tuple[Company, ...]
    correlation_id: str | None = None  # defaults to run_id when read back
    # False for the one-company shape, which carries no snapshot: the consumer reads the table instead.
    snapshot: bool = True
    # Entries of the chunk that could not be read (position and reason); the rest are still worked on.
    rejected: tuple[str, ...] = field(default=(), compare=False)

    def body(self) -> str:
        companies = [company.to_json() for company in self.companies]
        body = {"v": VERSION, "run_id": self.run_id, "requested_at": self.requested_at, "companies": companies}
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"))

    def message_attributes(self) -> dict[str, Any]:
        """SendMessage(Batch)'s MessageAttributes for this message."""
        return {CORRELATION_ATTRIBUTE: {"DataType": "String", "StringValue": self.correlation_id or self.run_id}}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> WorkMessage:
        """The message in one record of a Lambda SQS event; BadMessage when it is not one the producer sends."""
        try:
            body = json.loads(record.get("body") or "")
        except (TypeError, ValueError) as exc:
            raise BadMessage("body is not JSON") from exc
        if not isinstance(body, dict):
            raise BadMessage("body is not a JSON object")
        run_id, requested_at = body.get("run_id"), body.get("requested_at")
        if not isinstance(run_id, str) or not run_id or not isinstance(requested_at, str):
            raise BadMessage("body lacks run_id or requested_at")
        try:
            parse_iso(requested_at)
        except ValueError as exc:
            raise BadMessage("requested_at is not an ISO-8601 time") from exc
        attribute = (record.get("messageAttributes") or {}).get(CORRELATION_ATTRIBUTE) or {}
        correlation_id = attribute.get("stringValue") or run_id
        if "companies" not in body:  # the one-company shape of earlier versions
            company = Company.from_json({"name": body.get("name")})
            return cls(run_id, requested_at, (company,), correlation_id, snapshot=False)
        entries = body["companies"]
        if not isinstance(entries, list) or not entries:
            raise BadMessage("companies is not a non-empty list")
        companies: list[Company] = []
        rejected: list[str] = []
        for position, entry in enumerate(entries, start=1):
            try:
                companies.append(Company.from_json(entry))
            except BadMessage as exc:
                rejected.append(f"company {position}: {exc}")
        return cls(run_id, requested_at, tuple(companies), correlation_id, rejected=tuple(rejected))
