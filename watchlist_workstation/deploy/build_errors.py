"""Why a build cannot produce a deployable bundle: the errors every step of the build raises."""

from __future__ import annotations

from typing import Any


class BuildError(RuntimeError):
    """The build cannot produce a deployable bundle; the message says why in one line."""


class BundleTooLargeError(BuildError):
    """A function's code plus its layers exceeds Lambda's unzipped limit. Carries the full report."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report
