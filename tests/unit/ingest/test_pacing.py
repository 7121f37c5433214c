"""Rate limit and time window behave as a data manager expects."""

from __future__ import annotations

from datetime import datetime

import pytest

from eucaim.errors import ConfigError
from eucaim.ingest.pipeline.pacing import RateLimiter, TimeWindow


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_rate_limiter_holds_the_average_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1_000_000, clock=clock, sleep=clock.sleep)
    for _ in range(50):
        limiter.consume(200_000)  # 10 MB in total at 1 MB/s
    assert clock.now == pytest.approx(9.0, abs=0.01)  # one second of burst, then the rate


def test_window_crossing_midnight() -> None:
    window = TimeWindow.parse("22:00-06:00")
    assert window.contains(datetime(2026, 1, 1, 23, 30))
    assert window.contains(datetime(2026, 1, 2, 5, 59))
    assert not window.contains(datetime(2026, 1, 2, 6, 0))
    assert window.seconds_until_open(datetime(2026, 1, 2, 21, 0)) == 3600
    assert window.seconds_until_open(datetime(2026, 1, 2, 23, 0)) == 0


def test_window_within_a_day_and_next_day_opening() -> None:
    window = TimeWindow.parse("08:00-17:30")
    assert window.contains(datetime(2026, 1, 1, 17, 29))
    assert not window.contains(datetime(2026, 1, 1, 17, 30))
    assert window.seconds_until_open(datetime(2026, 1, 1, 18, 0)) == 14 * 3600


@pytest.mark.parametrize("text", ["22-06", "25:00-06:00", "22:00", "10:61-11:00"])
def test_bad_windows_are_refused_with_an_example(text: str) -> None:
    with pytest.raises(ConfigError):
        TimeWindow.parse(text)
