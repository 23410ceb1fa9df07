"""Company names: one normal form and one validity rule, shared by the CLI and the consumer."""

from __future__ import annotations

import unicodedata

from lib.limits import MAX_NAME_CHARS


class InvalidName(ValueError):
    """A company name the pipeline refuses; the message says why in one line."""


def normalize_name(raw: str) -> str:
    """Collapse runs of whitespace and trim, so 'Meta  Platforms ' and 'Meta Platforms' are one company."""
    return " ".join(raw.split())


def validate_name(raw: object) -> str:
    """Return the normal form of a name, or raise InvalidName."""
    if not isinstance(raw, str):
        raise InvalidName("name must be a string")
    # Control and format characters would end up in S3 keys, CSV cells and terminal output.
    bad = [ch for ch in raw if unicodedata.category(ch) in ("Cc", "Cf") and ch not in " \t"]
    if bad:
        raise InvalidName(f"name holds a control character (U+{ord(bad[0]):04X})")
    name = normalize_name(raw)
    if not name:
        raise InvalidName("name is empty")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidName(f"name is {len(name)} characters long; the limit is {MAX_NAME_CHARS}")
    return name
