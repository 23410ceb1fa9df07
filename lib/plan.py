"""Which companies a tick checks: the tick's share of the request budget, and a rotation through the
watchlist in which no company starves (docs/design.md, "Reading Wikipedia politely").

The operator's budget is Wikipedia requests per minute. A tick of `period` seconds may send
`budget * period / 60` of them; PLAN_SHARE of those are planned for revision checks, WIKI_TITLES_PER_QUERY
companies each, and the rest are left for the intros of pages that changed and for retries.

When the watchlist holds more companies than a tick can check, each company belongs to part
`floor(h * windows)` of `windows` parts, where `h` is the SHA-256 of its name read as a fraction in
[0, 1), and tick number t checks part `t mod windows`. A company's part depends on its own name only,
so companies added or removed never move it: every company is checked once every `windows` ticks, the
part whose last check is the oldest goes first, and the refresh interval `windows * period` is what
`./cfcli.py status` shows. Companies never read yet cost an intro request as well (one per 20), so a
watchlist of new companies is cut into more parts until its first round is done. (When the watchlist
grows or shrinks past a multiple of a tick's capacity, `windows` changes and the parts are cut anew:
that once, a company may wait up to two rounds.) The
parts are equal in size only on average; a part a little over a tick's capacity is absorbed by the
share of the budget kept back. Nothing about it is stored: the tick number comes from the schedule
event's time, so the producer writes nothing per company.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from lib.clock import parse_iso
from lib.limits import WIKI_EXTRACTS_PER_QUERY, WIKI_TITLES_PER_QUERY

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
    def planned_requests(self) -> int:
        """The requests a tick plans for (PLAN_SHARE of what the budget allows it)."""
        return max(1, math.floor(self.requests_per_tick * PLAN_SHARE))

    @property
    def companies_per_tick(self) -> int:
        """How many companies already analysed one tick checks at most (revision requests of 50 titles)."""
        return self.planned_requests * WIKI_TITLES_PER_QUERY

    def windows(self, companies: int, new: int = 0) -> int:
        """Into how many parts a watchlist of `companies` is cut, one part a tick. `new` of them were never read,
        so each of those also costs a share of an intro request (20 intros a request)."""
        cost = companies / WIKI_TITLES_PER_QUERY + new / WIKI_EXTRACTS_PER_QUERY
        return max(1, math.ceil(cost / self.planned_requests))

    def refresh_seconds(self, companies: int, new: int = 0) -> int:
        """How often each company is checked: once every `windows` ticks."""
        return self.windows(companies, new) * self.period_seconds


def tick_number(requested_at: str, period_seconds: int) -> int:
    """The tick's number: whole periods since the epoch at the schedule event's time."""
    return math.floor(parse_iso(requested_at).timestamp() / period_seconds)


def part_of(name: str, windows: int) -> int:
    """The part a company belongs to: its name's SHA-256, read as a fraction of 1, times `windows`."""
    fraction = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big")
    return fraction * windows >> 64


def window(items: Sequence[Named], names: Sequence[str], tick: int, windows: int) -> list[Named]:
    """The items (named by `names`, in the same order) that tick number `tick` checks, in their given order."""
    part = tick % windows
    return [item for item, name in zip(items, names, strict=True) if part_of(name, windows) == part]
