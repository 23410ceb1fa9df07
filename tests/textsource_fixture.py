"""What the text source's tests share: a clock that moves only when the code sleeps, a TextSource on the
loopback summary API (the `wiki_server` fixture), and one company's page."""

from __future__ import annotations

import pytest

from lib.textsource import TextSource

CONTACT = "https://example.org/watchlist-pipeline; ops@example.org"
APPLE = "Apple Inc."
APPLE_TEXT = "Apple Inc. is an American multinational technology company headquartered in Cupertino, California."


class FakeTime:
    """A clock that only moves when the code under test sleeps, so no test waits for real."""

    def __init__(self, start: float = 1_000.0):
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def source(wiki_server, fake_time):
    text_source = TextSource(wiki_server.base_url, CONTACT, sleep=fake_time.sleep, clock=fake_time.clock)
    yield text_source
    text_source.close()


def backoff_bounds(attempt: int) -> tuple[float, float]:
    """The range of the jittered wait before retry `attempt` (1-based): half a step to a full step."""
    step = 0.5 * 2 ** (attempt - 1)
    return step / 2, step
