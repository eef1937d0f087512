"""Replay protection: refuse message ids already seen and messages sent outside a time window."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from .errors import ReplayedMessageError, StaleMessageError


class ReplayGuard:
    """Remembers recent message ids, bounded in count so a flood cannot exhaust memory.

    An id leaves memory when its send time falls out of the window or when
    `capacity` is exceeded. Either way the guard raises its floor to that send
    time and refuses anything sent at or before the floor, so a forgotten id
    can never be accepted again (not even after the wall clock steps back).
    One guard per receiving socket. ``clock`` gives the receiver's time in
    seconds since the epoch (tests step it forwards and back).
    """

    def __init__(self, window: float = 300.0, capacity: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        if not window > 0 or not math.isfinite(window):
            raise ValueError(f"window must be a positive number of seconds, got {window!r}")
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity!r}")
        self.window = window
        self.capacity = capacity
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._floor = -math.inf
        self._clock = clock

    def __len__(self) -> int:
        return len(self._seen)

    def check(self, msg_id: str, sent: float) -> None:
        """Accept and remember `msg_id`, or raise; call only for authenticated messages."""
        now = self._clock()
        if abs(now - sent) > self.window:
            raise StaleMessageError(
                f"message time is {sent - now:+.1f} s from this clock; the window is ±{self.window:g} s"
            )
        if sent <= self._floor:
            raise StaleMessageError("message is older than the replay memory reaches; resend it as a new message")
        if msg_id in self._seen:
            raise ReplayedMessageError(f"message id {msg_id} was already received")
        self._seen[msg_id] = sent
        while self._seen and (
            len(self._seen) > self.capacity or next(iter(self._seen.values())) < now - self.window
        ):
            _, forgotten = self._seen.popitem(last=False)
            self._floor = max(self._floor, forgotten)
