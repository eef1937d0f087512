"""Fairness between clients: fair turns, so one client's 500-frame sequence cannot starve another's single
image, and fair admission, so one client cannot take every queue place."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


_SERVED_MEMORY = 4096  # clients whose last turn is remembered


class FairQueue(Generic[T]):
    """One FIFO lane per client; `get` serves the client whose last turn is longest ago (a new client
    first), skipping items `runnable` refuses for now.

    Skipped items keep their place (a parked sequence resumes where it was). `pause` holds everything
    back without losing it; `close` wakes the consumer for good.
    """

    def __init__(self, runnable: Callable[[T], bool] = lambda item: True) -> None:
        self._lanes: dict[Hashable, deque[T]] = {}
        self._served: dict[Hashable, int] = {}  # client -> turn number of its last item
        self._turn = 0
        self._runnable = runnable
        self._cond = threading.Condition()
        self._paused = False
        self._closed = False

    def __len__(self) -> int:
        with self._cond:
            return sum(len(lane) for lane in self._lanes.values())

    @property
    def paused(self) -> bool:
        return self._paused

    def put(self, client: Hashable, item: T) -> None:
        with self._cond:
            self._lanes.setdefault(client, deque()).append(item)
            self._cond.notify()

    def get(self, timeout: float | None = None) -> T | None:
        """The next item in turn; None once closed or when `timeout` passes with nothing runnable."""
        with self._cond:
            item = self._take()
            while item is None and not self._closed:
                if not self._cond.wait(timeout):
                    return None
                item = self._take()
            return item

    def remove(self, predicate: Callable[[T], bool]) -> list[T]:
        """Take out every item matching `predicate` (a cancelled job's frames); returns them."""
        with self._cond:
            removed: list[T] = []
            for client, lane in list(self._lanes.items()):
                kept: deque[T] = deque()
                for item in lane:
                    (removed if predicate(item) else kept).append(item)
                if kept:
                    self._lanes[client] = kept
                else:
                    del self._lanes[client]
            return removed

    def set_paused(self, paused: bool) -> None:
        with self._cond:
            self._paused = paused
            self._cond.notify_all()

    def wake(self) -> None:
        """Re-check runnability (a parked job came back)."""
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _take(self) -> T | None:
        if self._paused or self._closed:
            return None
        for client in sorted(self._lanes, key=lambda c: self._served.get(c, -1)):
            lane = self._lanes[client]
            for index, item in enumerate(lane):
                if self._runnable(item):
                    del lane[index]
                    if not lane:
                        del self._lanes[client]
                    self._note_turn(client)
                    return item
        return None

    def _note_turn(self, client: Hashable) -> None:
        self._turn += 1
        self._served[client] = self._turn
        if len(self._served) > _SERVED_MEMORY:
            self._served = {c: turn for c, turn in self._served.items() if c in self._lanes}


def admission_share(held: int, holdings: Iterable[int], limit: int) -> bool:
    """Whether a client holding `held` of `limit` queue places may take one more (the queue is not full).

    A client's first place is always granted, and half of the places are kept for first places: with
    up to `limit / 2` clients each gets one however fast another floods. Further places come from the
    other half, and a client may take one only while its further places are fewer than those still
    free there, so a lone flood takes about a quarter of the places (17 of 64) and the next heavy
    client about half as many again (9), not nothing.
    """
    if held == 0:
        return True
    extra_free = limit // 2 - sum(max(0, count - 1) for count in holdings)
    return held - 1 < extra_free
