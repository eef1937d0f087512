"""Logging refused messages without letting a flood rotate the log away.

A stranger can send hundreds of thousands of bad messages a minute; one line each once rotated every
log file out in seconds, crash tracebacks included. The first few refusals of each minute are logged
in full, the rest counted and summarised in one line when the minute is over.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

BURST = 10  # refusals logged in full per period
PERIOD = 60.0


class RefusalLog:
    def __init__(self, log: logging.Logger, burst: int = BURST, period: float = PERIOD, clock: Callable[[], float] = time.monotonic) -> None:
        self._log = log
        self._burst = burst
        self._period = period
        self._clock = clock
        self._start = clock()
        self._logged = 0
        self._counts: Counter[str] = Counter()

    def refused(self, code: str, message: str) -> None:
        self.tick()
        self._counts[code] += 1
        if self._logged < self._burst:
            self._logged += 1
            self._log.warning("refused a message (%s): %s", code, message)
            if self._logged == self._burst:
                self._log.warning("more refusals this minute are counted, not logged; a summary follows")

    def tick(self) -> None:
        """Close the period once it is over: one summary line if anything went unlogged."""
        now = self._clock()
        if now - self._start < self._period:
            return
        self.flush()
        self._start = now

    def flush(self) -> None:
        total = sum(self._counts.values())
        if total > self._logged:
            by_code = ", ".join(f"{code} {count}" for code, count in self._counts.most_common())
            self._log.warning("%d messages refused in the last minute (%s); the first %d were logged", total, by_code, self._logged)
        self._logged = 0
        self._counts.clear()
