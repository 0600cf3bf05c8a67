"""Approximate-time synchronisation of several message streams by header stamp.

A small stand-in for ``message_filters.ApproximateTimeSynchronizer`` (not on PyPI), without
any rclpy dependency so it can be unit-tested and used by the bag tool too.

Rule: every input keeps a sorted queue of (stamp, message), at most ``queue_size`` long. Let
``pivot`` be the latest of the queues' oldest stamps. A message older than ``pivot - slop``
can never be matched (the queue that holds the pivot has nothing older, and its later
messages are newer still), so it is dropped. After that every queue's oldest message lies in
``[pivot - slop, pivot]``; from each queue the message closest to the pivot but not newer is
taken, so the set spans at most ``slop``. The set is emitted and everything up to it is
removed. ``slop = 0`` is exact-time matching.

    sync = ApproximateTimeSync(3, slop_ns=20_000_000, queue_size=10)
    for matched in sync.add(0, stamp_ns, msg):  # list of tuples, one message per input
        ...
"""

from __future__ import annotations

import bisect
import threading
from typing import Any, Callable


class ApproximateTimeSync:
    """Group one message from each of ``count`` inputs whose stamps lie within ``slop_ns``.

    :meth:`add` returns the matched tuples (oldest first) that the new message completed and
    also passes each to ``callback`` when one is given. Thread-safe. ``dropped`` counts
    messages discarded unmatched (too old, or pushed out of a full queue).
    """

    def __init__(self, count: int, slop_ns: int, queue_size: int = 10,
                 callback: Callable[..., None] | None = None) -> None:
        if int(count) < 1:
            raise ValueError(f"ApproximateTimeSync: expected count >= 1, found {count}")
        if int(slop_ns) < 0:
            raise ValueError(f"ApproximateTimeSync: expected slop_ns >= 0, found {slop_ns}")
        if int(queue_size) < 1:
            raise ValueError(f"ApproximateTimeSync: expected queue_size >= 1, found "
                             f"{queue_size}")
        self.count = int(count)
        self.slop_ns = int(slop_ns)
        self.queue_size = int(queue_size)
        self.callback = callback
        self.dropped = 0
        self.matched = 0
        self._stamps: list[list[int]] = [[] for _ in range(self.count)]
        self._messages: list[list[Any]] = [[] for _ in range(self.count)]
        self._lock = threading.Lock()

    def queue_lengths(self) -> list[int]:
        """Messages waiting per input."""
        with self._lock:
            return [len(s) for s in self._stamps]

    def clear(self) -> None:
        """Forget every waiting message."""
        with self._lock:
            for stamps, messages in zip(self._stamps, self._messages):
                stamps.clear()
                messages.clear()

    def _drop_front(self, index: int, upto: int) -> None:
        """Remove the ``upto`` oldest messages of input ``index``."""
        del self._stamps[index][:upto]
        del self._messages[index][:upto]

    def add(self, index: int, stamp_ns: int, message: Any) -> list[tuple[Any, ...]]:
        """Add ``message`` (stamp in ns) on input ``index``; return the completed sets."""
        if not 0 <= index < self.count:
            raise IndexError(f"ApproximateTimeSync: input {index} out of 0..{self.count - 1}")
        stamp_ns = int(stamp_ns)
        with self._lock:
            stamps, messages = self._stamps[index], self._messages[index]
            pos = bisect.bisect_right(stamps, stamp_ns)
            stamps.insert(pos, stamp_ns)
            messages.insert(pos, message)
            if len(stamps) > self.queue_size:
                self._drop_front(index, len(stamps) - self.queue_size)
                self.dropped += 1
            matches = self._match()
        if self.callback is not None:
            for match in matches:
                self.callback(*match)
        return matches

    def _match(self) -> list[tuple[Any, ...]]:
        matches = []
        while all(self._stamps):
            pivot = max(s[0] for s in self._stamps)
            for i, stamps in enumerate(self._stamps):
                too_old = bisect.bisect_left(stamps, pivot - self.slop_ns)
                if too_old:
                    self._drop_front(i, too_old)
                    self.dropped += too_old
            if not all(self._stamps):
                break
            chosen = []
            for i, stamps in enumerate(self._stamps):
                # the newest message not newer than the pivot (there is one: the oldest)
                chosen.append(bisect.bisect_right(stamps, pivot) - 1)
            matches.append(tuple(self._messages[i][k] for i, k in enumerate(chosen)))
            for i, k in enumerate(chosen):
                self.dropped += k  # older ones skipped in favour of a closer match
                self._drop_front(i, k + 1)
            self.matched += 1
        return matches
