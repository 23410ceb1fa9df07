"""Progress of long work, on stderr so stdout stays data (docs/cli.md, "Progress").

On a terminal one line is rewritten in place (a carriage return, at most every LIVE_INTERVAL seconds);
anywhere else (a pipe, a file, CI) whole lines are printed: one each time another tenth of a known
total is done, one every PLAIN_INTERVAL seconds while the total is unknown (so work that ends sooner
prints no count at all), and the last count if an earlier one was printed. A stage (a step with no
count: "building", "deleting stack x") is one line either way.

    with Progress("added", total=len(names)) as progress:
        for done in ...:
            progress.update(done)
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

LIVE_INTERVAL = 0.1
PLAIN_INTERVAL = 10.0
PLAIN_STEPS = 10  # lines for a known total: one per tenth


def stage(text: str, stream: TextIO | None = None) -> None:
    """One line for a step of long work, on stderr."""
    stream = stream or sys.stderr
    stream.write(text + "\n")
    stream.flush()


class Progress:
    """A count of work done (of a total that may become known later), shown on stderr."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        stream: TextIO | None = None,
        live: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label, self.total = label, total
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self._clock = clock
        self.done = 0
        self.detail = ""
        # Plain lines for an unknown total start one interval from now; a live line shows at once.
        self._shown_at: float | None = None if self.live else clock()
        self._step = 0  # tenths of the total already printed (plain lines)
        self._last_line = ""
        self._open_line = False  # a live line is on screen without its newline
        self._printed = False  # a plain count line was printed

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        if kind is None:
            self.finish()
        else:
            self._end_live_line()

    def text(self) -> str:
        count = f"{self.done}/{self.total}" if self.total is not None else str(self.done)
        percent = f" ({100 * self.done // self.total}%)" if self.total else ""
        return f"{self.label} {count}{percent}" + (f", {self.detail}" if self.detail else "")

    def update(self, done: int, *, total: int | None = None, detail: str | None = None) -> None:
        """`done` units so far (and the total, once it is known)."""
        self.done = done
        if total is not None:
            self.total = total
        if detail is not None:
            self.detail = detail
        now = self._clock()
        if self.live:
            if self._shown_at is None or now - self._shown_at >= LIVE_INTERVAL:
                self._show_live(now)
            return
        if self.total:
            step = min(PLAIN_STEPS, PLAIN_STEPS * self.done // self.total)
            if step > self._step:
                self._step = step
                self._print(now)
        elif now - (self._shown_at or 0.0) >= PLAIN_INTERVAL:
            self._print(now)

    def advance(self, units: int = 1, *, detail: str | None = None) -> None:
        self.update(self.done + units, detail=detail)

    def stage(self, text: str) -> None:
        """A line of its own (a step, a note) without losing the count's line on a terminal."""
        if self._open_line:
            self._end_live_line()
            self._last_line = ""  # the next live line starts on a fresh line: nothing to wipe
        stage(text, self.stream)

    def finish(self) -> None:
        """The final count: the live line ends with a newline; a plain one follows the counts already printed."""
        if self.live:
            self._show_live(self._clock())
            self._end_live_line()
        elif self._printed and self.text() != self._last_line:
            self._print(self._clock())

    def _print(self, now: float) -> None:
        self._shown_at, self._printed = now, True
        self._last_line = self.text()
        stage(self._last_line, self.stream)

    def _show_live(self, now: float) -> None:
        self._shown_at = now
        line = self.text()
        # \r returns to the line's start; spaces wipe what a longer earlier text left behind.
        pad = max(0, len(self._last_line) - len(line))
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()
        self._last_line, self._open_line = line, True

    def _end_live_line(self) -> None:
        if self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False


class Steps:
    """Long work told as lines (one per step) and, for a step that reports how far it has come, a count."""

    def __init__(self, *, stream: TextIO | None = None, live: bool | None = None) -> None:
        self._stream, self._live = stream, live
        self._lock = threading.Lock()  # counts may come from another thread (a stack deletion's watcher)
        self._what: str | None = None
        self._progress: Progress | None = None

    def __enter__(self) -> Steps:
        return self

    def __exit__(self, *_: object) -> None:
        with self._lock:
            self._end_count()

    def line(self, text: str) -> None:
        with self._lock:
            self._end_count()
            stage(text, self._stream)

    def count(self, what: str, done: int, total: int | None = None) -> None:
        with self._lock:
            progress = self._progress
            if progress is None or what != self._what:
                self._end_count()
                progress = Progress(what, total, stream=self._stream, live=self._live)
                self._what, self._progress = what, progress
            progress.update(done, total=total)

    def _end_count(self) -> None:
        if self._progress is not None:
            self._progress.finish()
        self._what, self._progress = None, None
