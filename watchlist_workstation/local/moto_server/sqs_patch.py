"""A narrow patch of moto 5.2.5's SQS model, so that a deep queue stays fast and thread-safe.

Local mode serves its AWS APIs from moto's server (threaded werkzeug: requests run concurrently)
and must push 10,000 companies through one queue at 100 or more a second. moto 5.2.5's SQS model
(`moto/sqs/models.py`) cannot: it scans every message of a queue several times per call, and it
takes no lock around what a call changes.

Why (moto 5.2.5, measured through its server with boto3; see bench/sqs_depth.py)
- `SQSBackend.receive_message` builds `Queue.messages` (a scan with two clock reads per message),
  then, for every message it returns, `is_message_valid_based_on_retention_period` calls
  `get_queue_attributes`, which builds `Queue.attributes` three times, each counting visible,
  in-flight and delayed messages with a scan of its own: about 30 scans of the whole queue for a
  10-message receive. It also deep-copies each returned message and the set of pending groups.
  One ReceiveMessage(10) took about 1.4 s on a queue 1,000 deep and about 13 s at 10,000.
- `Queue.delete_message` scans the queue twice per receipt handle (`any(had_receipt_handle)` and a
  rebuild of the whole list), and `had_receipt_handle` builds a new list for every message it
  asks; `change_message_visibility` scans too. `SendMessage` builds `Queue.attributes` (three
  scans) twice per message, and `GetQueueAttributes` once per name asked, several times over.
  At 10,000 deep (median of bench/sqs_depth.py, 2 cores): ReceiveMessage(10) 13.8 s,
  SendMessageBatch(10) 4.0 s, GetQueueAttributes(All) 455 ms, DeleteMessageBatch(10) 45 ms. With
  this patch each takes 9-14 ms, of which about 8 ms is what any call (ListQueues) costs through
  the server and boto3; in-process, GetQueueAttributes(All) takes about 0.2 ms.
- Concurrent requests race: two receives can pick the same visible message from their own
  snapshots, a delete that rebuilds `_messages` can drop a message appended meanwhile or put
  back one deleted meanwhile.

What is patched (by `apply()`, for the whole process; standard queues only)
- `Queue.add_message`, `Queue.delete_message`, `SQSBackend.receive_message` and
  `SQSBackend.change_message_visibility` are replaced. They keep, beside `Queue._messages` (still
  the list of the queue's messages, in order), an index per queue: receipt handle (current and
  old) -> message, and three heaps of messages by state: ready (by send order), in flight (by the
  time they become visible) and delayed (by the time their delay ends). A call moves the messages
  whose time has come from one heap to another, then works on the heads, so a receive touches the
  messages it returns (plus any it dead-letters or drops as expired), and a delete or visibility
  change touches the one message its handle names. Heap entries made stale by a later change are
  skipped when they come to the top, and a heap is rebuilt when stale entries outnumber live ones.
  Removing a deleted message from `Queue._messages` is one `list.remove`: a scan in C that stops
  at the message, and consumers delete near the head (the worst case, the last of 10,000, costs
  about 0.2 ms).
- `Queue.approximate_number_of_messages`, `..._not_visible` and `..._delayed` (what
  `Queue.attributes` reports) read counters the index keeps, instead of three scans.
- `get_queue_attributes`, `delete_message_batch`, `change_message_visibility_batch` and
  `purge_queue` keep moto's code, run under the queue's lock (purge also drops the index).
- The lock is the queue's own `_messages_lock`, a `threading.Condition` over an `RLock` that moto
  already notifies when a message is added: every patched call holds it, so calls on one queue
  take turns, and a long poll waits on it (releasing it) until a send or until the next message
  becomes visible or its delay ends. A message moved to a dead-letter queue is added to that
  queue after the source queue's lock is released, so no call holds two queues' locks.
- The index is built from `Queue._messages` on first use, and built again whenever that list is
  not the one it describes or its length differs (moto code outside this patch changed it).

What stays moto's own
- FIFO queues, and a standard queue with an *enabled* event source mapping (moto's own Lambda
  path receives inside `add_message`): moto's original methods, run under the queue's lock.
- Per message: `Message.mark_received` (receive count, first-receive timestamp, new receipt handle,
  old handles kept), `change_visibility`, `_filter_message_attributes`, `deleted_messages` (so a
  second delete of a handle succeeds), ReceiptHandleIsInvalid for an unknown handle, the
  43,200-second visibility limit, redrive on the receive that finds the receive count at
  maxReceiveCount (the message, its handles and count, go to the dead-letter queue), delays.

Deliberate differences from moto 5.2.5
- A returned message is a shallow copy with its own filtered attribute dict, not a deep copy (the
  caller only reads it), and is not added to moto's `Message.instances_tracked` (a copy.deepcopy
  goes through `BaseModel.__new__`, which keeps every copy ever returned).
- A message older than the queue's MessageRetentionPeriod is deleted on the receive that reaches
  it, as SQS deletes it. moto marked it received, then stopped that receive (returning only what
  it had so far), and kept the message for ever, where it stopped every later receive too.
- Expired messages count in the approximate counts until a receive reaches them (SQS's counts
  are approximate as well).

`apply()` refuses (UnsupportedMotoVersion, moto_server/version.py) any moto but 5.2.5: it replaces
private methods whose shape it was written against.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
from collections.abc import Iterator
from typing import Any

from watchlist_workstation.local.moto_server.version import require_supported_moto

# SQS caps a message's total visibility timeout at 12 hours from when it was sent (moto checks it too).
MAX_TOTAL_VISIBILITY_SECONDS = 43200
_PATCHED = "_local_sqs_patched"
_INDEX = "_local_sqs_index"
_READY, _IN_FLIGHT, _DELAYED = 0, 1, 2
_apply_lock = threading.Lock()


def apply() -> None:
    """Patch moto's SQS model in this process (see the module docstring); calling it again does nothing."""
    require_supported_moto("watchlist_workstation/local/moto_server/sqs_patch.py", "moto/sqs/models.py")
    from moto.sqs import models

    with _apply_lock:
        if getattr(models.Queue, _PATCHED, False):
            return
        queue_class, backend_class = models.Queue, models.SQSBackend
        original = {name: getattr(queue_class, name) for name in ("add_message", "delete_message")}
        counted = {
            "approximate_number_of_messages": _READY,
            "approximate_number_of_messages_not_visible": _IN_FLIGHT,
            "approximate_number_of_messages_delayed": _DELAYED,
        }
        for name, state in counted.items():
            setattr(queue_class, name, _counter(state, getattr(queue_class, name)))
        queue_class.add_message = _add_message(original["add_message"])
        queue_class.delete_message = _delete_message(original["delete_message"])
        backend_class.receive_message = _receive_message(backend_class.receive_message, models)
        backend_class.change_message_visibility = _change_message_visibility(
            backend_class.change_message_visibility, models
        )
        for name in ("get_queue_attributes", "delete_message_batch", "change_message_visibility_batch"):
            setattr(backend_class, name, _under_queue_lock(getattr(backend_class, name)))
        backend_class.purge_queue = _under_queue_lock(backend_class.purge_queue, drop_index=True)
        setattr(queue_class, _PATCHED, True)


def _now_ms() -> float:
    # moto's own clock, so times compare with the ones moto stamps on messages (and follow freezegun).
    from moto.core.utils import unix_time_millis

    return unix_time_millis()


def _now_s() -> float:
    from moto.core.utils import unix_time

    return unix_time()


class _Slot:
    """Where one message stands in its queue's index: send order, state, and the current heap entry."""

    __slots__ = ("seq", "gen", "state")

    def __init__(self, seq: int):
        self.seq, self.gen, self.state = seq, -1, -1


class _Index:
    """One standard queue's messages by receipt handle and by state; used under the queue's lock."""

    def __init__(self, messages: list, now: float):
        self.messages = messages  # the Queue._messages list this index describes
        self.slots: dict[Any, _Slot] = {}
        self.handles: dict[str, Any] = {}
        # Entries: ready (seq, gen, message); in flight (visible_at, seq, gen, message); delayed
        # (delayed_until, seq, gen, message). seq is unique, so a message is never compared.
        self.heaps: tuple[list, list, list] = ([], [], [])
        self.counts = [0, 0, 0]
        self._seq, self._gen = itertools.count(), itertools.count()
        for message in messages:
            self._admit(message, now)

    def current(self, messages: list) -> bool:
        return messages is self.messages and len(self.slots) == len(messages)

    def add(self, message: Any, now: float) -> None:
        self.messages.append(message)
        self._admit(message, now)

    def _admit(self, message: Any, now: float) -> None:
        slot = self.slots[message] = _Slot(next(self._seq))
        for handle in message.all_receipt_handles:  # a message moved here from its source queue has some
            if handle is not None:
                self.handles[handle] = message
        self.place(message, slot, now)

    def place(self, message: Any, slot: _Slot, now: float) -> None:
        """File the message under its state at `now`, with moto's comparisons (Message.delayed/.visible)."""
        slot.gen = gen = next(self._gen)
        if now < message.delayed_until:
            state, entry = _DELAYED, (message.delayed_until, slot.seq, gen, message)
        elif now <= message.visible_at:
            state, entry = _IN_FLIGHT, (message.visible_at, slot.seq, gen, message)
        else:
            state, entry = _READY, (slot.seq, gen, message)
        if slot.state >= 0:
            self.counts[slot.state] -= 1
        slot.state = state
        self.counts[state] += 1
        heapq.heappush(self.heaps[state], entry)
        self._compact(state)

    def forget(self, message: Any) -> None:
        """Take the message out of the queue: the list, its slot and every handle it had."""
        slot = self.slots.pop(message)
        self.counts[slot.state] -= 1
        for handle in message.all_receipt_handles:
            self.handles.pop(handle, None)
        self.messages.remove(message)
        self._compact(slot.state)

    def live(self, entry: tuple) -> bool:
        slot = self.slots.get(entry[-1])
        return slot is not None and slot.gen == entry[-2]

    def _compact(self, state: int) -> None:
        heap = self.heaps[state]
        if len(heap) > 2 * self.counts[state] + 64:  # amortised: the heap is rebuilt at most once per 64 changes
            heap[:] = [entry for entry in heap if self.live(entry)]
            heapq.heapify(heap)

    def advance(self, now: float, pending: set) -> None:
        """Move the messages whose delay ended or whose visibility timeout passed by `now`."""
        delayed, in_flight = self.heaps[_DELAYED], self.heaps[_IN_FLIGHT]
        while delayed and delayed[0][0] <= now:
            entry = heapq.heappop(delayed)
            if self.live(entry):
                self.place(entry[-1], self.slots[entry[-1]], now)
        while in_flight and in_flight[0][0] < now:
            entry = heapq.heappop(in_flight)
            if self.live(entry):
                pending.discard(entry[-1])  # visible again: its consumer timed out (moto does the same)
                self.place(entry[-1], self.slots[entry[-1]], now)

    def pop_ready(self) -> Any | None:
        ready = self.heaps[_READY]
        while ready:
            entry = heapq.heappop(ready)
            if self.live(entry):
                return entry[-1]
        return None

    def seconds_to_next_change(self, now: float) -> float | None:
        tops = [heap[0][0] for heap in self.heaps[1:] if heap]
        return max((min(tops) - now) / 1000, 0.001) if tops else None


def _index(queue: Any) -> _Index:
    """The queue's index, (re)built if moto code outside this patch changed `_messages`. Call under the lock."""
    index = queue.__dict__.get(_INDEX)
    if index is None or not index.current(queue._messages):
        index = queue.__dict__[_INDEX] = _Index(queue._messages, _now_ms())
    return index


@contextlib.contextmanager
def _moto_owns(queue: Any) -> Iterator[None]:
    """Run moto's own code on the queue under its lock, and forget the index (that code ignores it)."""
    with queue._messages_lock:
        queue.__dict__.pop(_INDEX, None)
        yield


def _counter(state: int, original: property) -> property:
    def count(self: Any) -> int:
        if self.fifo_queue:
            return original.fget(self)
        with self._messages_lock:
            index = _index(self)
            index.advance(_now_ms(), self.pending_messages)
            return index.counts[state]

    return property(count, doc=original.__doc__)


def _add_message(original: Any) -> Any:
    def add_message(self: Any, message: Any) -> None:
        if self.fifo_queue or any(mapping.enabled for mapping in self.lambda_event_source_mappings.values()):
            with _moto_owns(self):
                return original(self, message)
        with self._messages_lock:
            _index(self).add(message, _now_ms())
            self._messages_lock.notify_all()  # wakes long polls (moto notifies here too)
        return None

    return add_message


def _delete_message(original: Any) -> Any:
    from moto.sqs.exceptions import ReceiptHandleIsInvalid

    def delete_message(self: Any, receipt_handle: str) -> None:
        if self.fifo_queue:
            with _moto_owns(self):
                return original(self, receipt_handle)
        with self._messages_lock:
            if receipt_handle in self.deleted_messages:
                return None  # deleting again is fine, as in moto and SQS
            index = _index(self)
            message = index.handles.get(receipt_handle)
            if message is None:
                raise ReceiptHandleIsInvalid()
            index.forget(message)
            self.pending_messages.discard(message)
            self.deleted_messages.update(message.all_receipt_handles)
        return None

    return delete_message


def _take(queue: Any, index: _Index, count: int, visibility_timeout: int, attribute_names: list, models: Any):
    """Receive up to `count` ready messages, in send order; returns (copies, messages to dead-letter)."""
    now = _now_ms()
    index.advance(now, queue.pending_messages)
    retention_ms = int(queue.message_retention_period) * 1000
    redrive = queue.redrive_policy if queue.dead_letter_queue is not None else None
    max_receives = redrive["maxReceiveCount"] if redrive else None
    received, to_dead_letter = [], []
    while len(received) < count:
        message = index.pop_ready()
        if message is None:
            break
        if message.sent_timestamp + retention_ms <= now:
            index.forget(message)  # past the retention period: SQS deletes it
            queue.pending_messages.discard(message)
            queue.deleted_messages.update(message.all_receipt_handles)
            continue
        if max_receives is not None and message.approximate_receive_count >= max_receives:
            index.forget(message)
            queue.pending_messages.discard(message)
            to_dead_letter.append(message)
            continue
        queue.pending_messages.add(message)
        message.mark_received(visibility_timeout=visibility_timeout)
        index.handles[message.receipt_handle] = message
        received.append(message)
    copies = []
    for message in received:
        # Filed only now: with a visibility timeout of 0 a message stays ready, and one receive
        # returns a message at most once.
        index.place(message, index.slots[message], now)
        # A shallow copy (the filter replaces the copy's attribute dict, not the message's), made
        # without Message.__new__, which would keep every copy in moto's instance tracker for ever.
        returned = object.__new__(type(message))
        returned.__dict__.update(message.__dict__)
        models._filter_message_attributes(returned, attribute_names)
        copies.append(returned)
    return copies, to_dead_letter


def _receive_message(original: Any, models: Any) -> Any:
    def receive_message(
        self: Any,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> list:
        queue = self.get_queue(queue_name)
        if queue.fifo_queue:
            with _moto_owns(queue):
                return original(
                    self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names
                )
        names = message_attribute_names or []
        deadline = _now_s() + wait_seconds_timeout
        lock = queue._messages_lock
        while True:
            with lock:
                while True:
                    index = _index(queue)
                    received, to_dead_letter = _take(queue, index, count, visibility_timeout, names, models)
                    remaining = deadline - _now_s()
                    if received or to_dead_letter or not wait_seconds_timeout or remaining <= 0:
                        break
                    # Long poll: a send notifies; otherwise wake when the next message becomes visible.
                    wake = index.seconds_to_next_change(_now_ms())
                    lock.wait(remaining if wake is None else min(remaining, wake))
                dead_letter_queue = queue.dead_letter_queue
            for message in to_dead_letter:  # outside this queue's lock: no call holds two queues' locks
                dead_letter_queue.add_message(message)
            if received or not to_dead_letter or not wait_seconds_timeout or _now_s() >= deadline:
                return received

    return receive_message


def _change_message_visibility(original: Any, models: Any) -> Any:
    def change_message_visibility(self: Any, queue_name: str, receipt_handle: str, visibility_timeout: int) -> None:
        queue = self.get_queue(queue_name)
        if queue.fifo_queue:
            with _moto_owns(queue):
                return original(self, queue_name, receipt_handle, visibility_timeout)
        with queue._messages_lock:
            index = _index(queue)
            message = index.handles.get(receipt_handle)
            if message is None:
                raise models.ReceiptHandleIsInvalid()
            visible_for_ms = _now_ms() + int(visibility_timeout) * 1000 - message.sent_timestamp
            if visible_for_ms > MAX_TOTAL_VISIBILITY_SECONDS * 1000:
                raise models.InvalidParameterValue(
                    f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: Total "
                    f"VisibilityTimeout for the message is beyond the limit [{MAX_TOTAL_VISIBILITY_SECONDS} seconds]"
                )
            message.change_visibility(visibility_timeout)
            now = _now_ms()
            if now > message.visible_at:
                queue.pending_messages.discard(message)
            index.place(message, index.slots[message], now)
        return None

    return change_message_visibility


def _under_queue_lock(original: Any, drop_index: bool = False) -> Any:
    """moto's own backend method, run under the named queue's lock (a batch is then one step)."""

    def locked(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        queue = self.get_queue(queue_name)
        with _moto_owns(queue) if drop_index else queue._messages_lock:
            return original(self, queue_name, *args, **kwargs)

    locked.__name__, locked.__doc__ = original.__name__, original.__doc__
    return locked
