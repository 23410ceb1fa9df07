"""The pipeline's JSON log lines, when pipeline code runs inside the CLI: on stderr, so stdout stays data.

In Lambda the pipeline logger writes to stdout (lib/log.py), which the runtime sends to CloudWatch
Logs. The CLI keeps the same lines and format but moves them to stderr.
"""

from __future__ import annotations

import logging
import sys

from lib.log import get_logger


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at emit time (a test's runner swaps it)."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def send_pipeline_logs_to_stderr(level: str | int = "WARNING") -> None:
    """Replace the pipeline logger's handlers with stderr ones of the same format and filters."""
    logger = get_logger()
    for handler in list(logger.handlers):
        if isinstance(handler, _StderrHandler):
            continue
        replacement = _StderrHandler()
        replacement.setFormatter(handler.formatter)
        for log_filter in handler.filters:
            replacement.addFilter(log_filter)
        logger.removeHandler(handler)
        logger.addHandler(replacement)
    logger.setLevel(level)
