"""Politeness: a byte-rate limit and a daily time window, because the network belongs to the hospital."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as clock_time

from eucaim.errors import ConfigError


class RateLimiter:
    """A token bucket shared by every sending thread: at most ``bytes_per_s`` on average.

    The bucket holds one second of burst, so short stalls are made up without exceeding the
    rate over any window longer than a second.
    """

    def __init__(
        self,
        bytes_per_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if bytes_per_s <= 0:
            raise ConfigError("the rate limit must be positive")
        self.rate = bytes_per_s
        self._clock = clock
        self._sleep = sleep
        self._tokens = bytes_per_s
        self._last = clock()
        self._lock = threading.Lock()

    def consume(self, n: int) -> None:
        """Block until ``n`` bytes may be sent."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.rate, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= n
            deficit = -self._tokens
        if deficit > 0:
            self._sleep(deficit / self.rate)


_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class TimeWindow:
    """A daily window such as ``22:00-06:00`` (it may cross midnight), in local time."""

    start: clock_time
    end: clock_time

    @classmethod
    def parse(cls, text: str) -> TimeWindow:
        match = _WINDOW.match(text)
        if not match:
            raise ConfigError(f"time window {text!r} is not HH:MM-HH:MM", hint="e.g. --window 22:00-06:00")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59:
            raise ConfigError(f"time window {text!r} has an impossible time")
        end = clock_time(0, 0) if h2 == 24 else clock_time(h2, m2)
        return cls(clock_time(h1, m1), end)

    def contains(self, now: datetime) -> bool:
        t = now.time()
        if self.start == self.end:
            return True
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def seconds_until_open(self, now: datetime) -> float:
        if self.contains(now):
            return 0.0
        opening = now.replace(hour=self.start.hour, minute=self.start.minute, second=0, microsecond=0)
        if opening <= now:
            opening += timedelta(days=1)
        return (opening - now).total_seconds()

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"
