"""Price a month of usage: one line per (price, detail), the always-free tier beside the list cost.

Usage comes as quantities keyed by (price key, detail), e.g. ("sqs.requests", "SendMessageBatch").
Tiers apply to the price's whole monthly quantity, as AWS bills them; the cost is then shared among
that price's detail lines in proportion to their quantities. The same goes for free tiers: an
allowance comes off the price's quantity (first units first), never off a single line.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from watchlist_workstation.cost.prices import ALWAYS, PRICES, TWELVE_MONTH, free_tiers

Usage = Mapping[tuple[str, str], float]


@dataclass(frozen=True)
class Line:
    key: str
    detail: str
    service: str
    item: str
    unit: str
    quantity: float
    list_cost: float
    free: float  # what the always-free tier covers (deducted in `net`)
    offer: float  # what a 12-month new-account offer would cover (never deducted)

    @property
    def net(self) -> float:
        return self.list_cost - self.free


@dataclass(frozen=True)
class Bill:
    lines: tuple[Line, ...]

    @property
    def list_total(self) -> float:
        return sum(line.list_cost for line in self.lines)

    @property
    def free_total(self) -> float:
        return sum(line.free for line in self.lines)

    @property
    def net_total(self) -> float:
        return sum(line.net for line in self.lines)

    @property
    def offer_total(self) -> float:
        return sum(line.offer for line in self.lines)

    def services(self) -> dict[str, dict[str, float]]:
        """List cost, free tier and net by service, in the order the lines come."""
        out: dict[str, dict[str, float]] = {}
        for line in self.lines:
            row = out.setdefault(line.service, {"list": 0.0, "free": 0.0, "net": 0.0, "offer": 0.0})
            row["list"] += line.list_cost
            row["free"] += line.free
            row["net"] += line.net
            row["offer"] += line.offer
        return out


def _allowances(quantities: Mapping[str, float], kind: str) -> dict[str, float]:
    """Free quantity per price key for the free tiers of `kind`, each pool's allowance spent in key order."""
    free: dict[str, float] = {}
    for tier in free_tiers(kind):
        left = tier.allowance
        for key in tier.keys:
            take = min(left, quantities.get(key, 0.0))
            if take > 0:
                free[key] = take
                left -= take
    return free


def price(usage: Usage) -> Bill:
    """The month's bill for `usage`, lines in the order of the price table, then of the details."""
    unknown = sorted({key for key, _ in usage} - set(PRICES))
    if unknown:
        raise KeyError(f"no price for {', '.join(unknown)}")
    by_key: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for (key, detail), quantity in usage.items():
        by_key[key].append((detail, quantity))
    totals = {key: sum(q for _, q in details) for key, details in by_key.items()}
    always, offers = _allowances(totals, ALWAYS), _allowances(totals, TWELVE_MONTH)
    lines = []
    for key, price_ in PRICES.items():
        if key not in by_key:
            continue
        total = totals[key]
        list_cost = price_.cost(total)
        free_cost = price_.cost(always.get(key, 0.0))
        offer_cost = min(price_.cost(offers.get(key, 0.0)), list_cost - free_cost)
        for detail, quantity in by_key[key]:
            share = quantity / total if total else 0.0
            lines.append(
                Line(
                    key=key,
                    detail=detail,
                    service=price_.service,
                    item=price_.item,
                    unit=price_.unit,
                    quantity=quantity,
                    list_cost=list_cost * share,
                    free=free_cost * share,
                    offer=offer_cost * share,
                )
            )
    return Bill(tuple(lines))
