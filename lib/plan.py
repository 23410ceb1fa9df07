"""Which companies a tick checks: the tick's share of the request budget, and a rotation through the
watchlist in which no company starves (docs/design.md, "Reading Wikipedia politely").

The operator's budget is Wikipedia requests per minute. A tick of `period` seconds may send
`budget * period / 60` of them; PLAN_SHARE of those are planned for revision checks, WIKI_TITLES_PER_QUERY
companies each, and the rest are left for the intros of pages that changed and for retries.

When the watchlist holds more companies than a tick can check, it is cut into `windows` equal parts by
a fixed order (the SHA-256 of each name), and tick number t checks part `t mod windows`: every company
is checked once every `windows` ticks, the part whose last check is the oldest goes first, and the
refresh interval `windows * period` is what `./cfcli.py status` shows. Nothing about it is stored: the
tick number comes from the schedule event's time, so the producer writes nothing per company.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from lib.clock import parse_iso
from lib.limits import WIKI_TITLES_PER_QUERY

# The share of a tick's requests planned for revision checks; the rest (a fifth) covers the intro requests
# of pages that changed (20 to a request) and retries after 429 or maxlag.
PLAN_SHARE = 0.8

Named = TypeVar("Named")


@dataclass(frozen=True)
class Budget:
    requests_per_minute: int
    period_seconds: int

    @property
    def requests_per_tick(self) -> float:
        return self.requests_per_minute * self.period_seconds / 60

    @property
    def companies_per_tick(self) -> int:
        """How many companies one tick checks at most (whole revision requests of 50 titles)."""
        return max(1, math.floor(self.requests_per_tick * PLAN_SHARE)) * WIKI_TITLES_PER_QUERY

    def windows(self, companies: int) -> int:
        """Into how many parts a watchlist of `companies` is cut, one part a tick."""
        return max(1, math.ceil(companies / self.companies_per_tick))

    def refresh_seconds(self, companies: int) -> int:
        """How often each company is checked: once every `windows` ticks."""
        return self.windows(companies) * self.period_seconds


def tick_number(requested_at: str, period_seconds: int) -> int:
    """The tick's number: whole periods since the epoch at the schedule event's time."""
    return math.floor(parse_iso(requested_at).timestamp() / period_seconds)


def rotation_key(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8")).hexdigest()


def window(items: Sequence[Named], names: Sequence[str], tick: int, windows: int) -> list[Named]:
    """The part of `items` (named by `names`, in the same order) that tick number `tick` checks."""
    keyed = sorted(zip((rotation_key(n) for n in names), items, strict=True), key=lambda pair: pair[0])
    ordered = [item for _, item in keyed]
    part = tick % windows
    start, end = part * len(ordered) // windows, (part + 1) * len(ordered) // windows
    return ordered[start:end]
