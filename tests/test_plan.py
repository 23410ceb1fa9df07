"""The tick plan (lib/plan.py) and the request pace (lib/pace.py): the budget, the rotation, the spacing."""

from __future__ import annotations

import random

import pytest

from lib.limits import WIKI_TITLES_PER_QUERY
from lib.pace import Pace, PaceDeadline, interval_for
from lib.plan import PLAN_SHARE, Budget, tick_number, window


def test_a_tick_plans_four_fifths_of_its_requests_as_revision_requests_of_fifty_titles():
    # GIVEN the default budget (100 requests a minute) and schedule (5 minutes)
    budget = Budget(100, 300)
    # THEN a tick may send 500 requests, plans 400 revision requests, and so checks 20,000 companies
    assert budget.requests_per_tick == 500
    assert budget.companies_per_tick == int(500 * PLAN_SHARE) * WIKI_TITLES_PER_QUERY == 20_000
    # AND 60,000 companies are checked in 3 ticks: every company every 15 minutes
    assert (budget.windows(60_000), budget.refresh_seconds(60_000)) == (3, 900)
    assert budget.windows(1_000) == 1 and budget.windows(0) == 1


def test_the_tick_number_comes_from_the_event_time():
    assert tick_number("2026-12-06T10:05:00Z", 300) == tick_number("2026-12-06T10:09:59Z", 300)
    assert tick_number("2026-12-06T10:10:00Z", 300) == tick_number("2026-12-06T10:05:00Z", 300) + 1


def test_every_company_is_checked_once_in_each_round_of_ticks():
    # GIVEN 60,000 companies cut into 3 parts (the default budget's 20,000 a tick)
    names = [f"Company {n}" for n in range(60_000)]
    # WHEN 3 consecutive ticks take their parts
    parts = [window(names, names, tick, 3) for tick in range(700, 703)]
    # THEN each company is in exactly one part, and no part is more than 2% over a third
    checked = [name for part in parts for name in part]
    assert sorted(checked) == sorted(names)
    assert max(map(len, parts)) <= 20_000 * 1.02


def test_no_company_starves_while_the_watchlist_changes():
    # GIVEN a watchlist that gains and loses companies between ticks, in 4 parts
    rng = random.Random(7)
    names = [f"Company {n}" for n in range(2_000)]
    added_at: dict[str, int] = dict.fromkeys(names, 0)
    last_checked: dict[str, int] = {}
    for tick in range(200):
        for _ in range(rng.randrange(0, 30)):
            name = f"New {tick}-{rng.randrange(10**9)}"
            names.append(name)
            added_at[name] = tick
        for _ in range(rng.randrange(0, 20)):
            names.pop(rng.randrange(len(names)))
        for name in window(names, names, tick, 4):
            last_checked[name] = tick
        # THEN every company is checked within 4 ticks of the previous check, or of being added
        late = [n for n in names if tick - last_checked.get(n, added_at[n] - 1) >= 4]
        assert late == []


def test_the_pace_keeps_the_whole_stack_within_the_budget_in_any_minute():
    # GIVEN 2 instances sharing a budget of 100 requests a minute, each sending as fast as its pace lets it
    interval = interval_for(100, 2)
    times: list[float] = []
    for offset in (0.0, 0.37):  # two instances started at different moments
        now = [offset]
        pace = Pace(interval, clock=lambda now=now: now[0], sleep=lambda s, now=now: now.__setitem__(0, now[0] + s))
        for _ in range(400):
            pace.wait()
            times.append(now[0])
    # THEN no 60-second window holds more than 100 of their requests
    times.sort()
    busiest = max(sum(1 for t in times if start <= t < start + 60) for start in times)
    assert busiest <= 100
    assert interval == pytest.approx(60 * 2 / 98)


def test_the_first_request_of_a_new_instance_also_waits_its_interval():
    now = [50.0]
    pace = Pace(2.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    pace.wait()
    assert now[0] == 52.0


def test_a_request_that_could_only_start_after_the_deadline_is_refused():
    now = [0.0]
    pace = Pace(10.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    with pytest.raises(PaceDeadline):
        pace.wait(deadline=5.0)
    assert now[0] == 0.0


def test_a_budget_too_small_for_the_instances_is_refused():
    with pytest.raises(ValueError, match="cannot serve"):
        interval_for(2, 2)
