"""JSON logging for the handlers.

The pipeline logs through one named logger with its own JSON handler, so nothing
is attached to the root logger the Lambda runtime owns. Data travels in `extra=`
keys; a context variable adds the current correlation id to every line.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
from collections.abc import Iterator

from pythonjsonlogger.json import JsonFormatter

LOGGER_NAME = "pipeline"
# python-json-logger leaves out extra keys that start with "_", but the embedded metric format's metadata must be
# the root member "_aws" (lib/metrics.py): it is logged under this key and renamed on the way out.
EMF_METADATA_KEY = "emf_metadata"

_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)


class _CorrelationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "correlation_id"):
            record.correlation_id = _correlation_id.get()
        return True


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is at emit time (Lambda's, or a test's capture)."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:
        pass


def get_logger(name: str | None = None) -> logging.Logger:
    """The pipeline's logger (or a child of it), configured once per process."""
    root = logging.getLogger(LOGGER_NAME)
    if not getattr(root, "_pipeline_configured", False):
        handler = _StdoutHandler()
        handler.setFormatter(
            JsonFormatter(
                "{levelname}{name}{message}",
                style="{",
                rename_fields={"levelname": "level", "name": "logger", EMF_METADATA_KEY: "_aws"},
                # ISO-8601 in UTC, which CloudWatch Logs Insights parses as a time.
                timestamp=True,
            )
        )
        handler.addFilter(_CorrelationFilter())
        root.addHandler(handler)
        # Lambda's runtime puts its own handler on the root logger; propagating would print each line twice.
        root.propagate = False
        root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
        root._pipeline_configured = True  # type: ignore[attr-defined]
    return root if name is None else root.getChild(name)


@contextlib.contextmanager
def correlation(correlation_id: str | None) -> Iterator[None]:
    """Every pipeline log line inside the block carries this correlation id."""
    token = _correlation_id.set(correlation_id)
    try:
        yield
    finally:
        _correlation_id.reset(token)
