"""Run I/O-bound calls on a few threads, in the caller's logging context."""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import copy_context
from typing import Any, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def in_parallel(task: Callable[[Item], Result], items: Iterable[Item], workers: int) -> Iterator[Result]:
    """task(item) for each item on up to `workers` threads; the results in the items' order.

    Each task runs in a copy of the caller's context (a worker thread has its own, empty one, and
    the correlation id of log lines lives in the context), made in the calling thread; one copy per
    task, since a context cannot be entered by two threads at once. Items are read as results are
    taken, at most `2 * workers` ahead, so a long iterable never sits in memory whole. An exception
    from a task is raised when its result is taken.
    """
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        pending: collections.deque[Future[Any]] = collections.deque()
        for item in items:
            pending.append(pool.submit(copy_context().run, task, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
