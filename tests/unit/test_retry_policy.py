"""The one retry policy: exponential delays up to a cap, jitter within known bounds, one log
line when an outage starts and one when it ends, and no waiting once shutdown is asked.
A fixed "random" number and a fake clock and sleep: nothing here really sleeps."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import pytest

from eventlog.retry import Jitter, Outage, RetryPolicy, reconnection_policy


def test_delays_grow_by_the_multiplier_up_to_the_cap() -> None:
    policy = RetryPolicy(initial=0.5, multiplier=3.0, cap=10.0)
    assert [policy.exponential(n) for n in range(1, 6)] == [0.5, 1.5, 4.5, 10.0, 10.0]


def test_a_week_long_outage_stays_at_the_cap_without_overflowing() -> None:
    assert RetryPolicy(initial=1.0, cap=30.0).exponential(100_000) == 30.0


def test_full_jitter_spans_zero_to_the_exponential_delay() -> None:
    policy = RetryPolicy(initial=1.0, cap=8.0, jitter=Jitter.FULL)
    assert [policy.delay(n, lambda: 0.0) for n in (1, 3, 6)] == [0.0, 0.0, 0.0]
    assert [policy.delay(n, lambda: 0.999) for n in (1, 3, 6)] == pytest.approx(
        [0.999, 3.996, 7.992])


def test_equal_jitter_never_waits_less_than_half_the_exponential_delay() -> None:
    policy = RetryPolicy(initial=1.0, cap=8.0, jitter=Jitter.EQUAL)
    assert [policy.delay(n, lambda: 0.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert [policy.delay(n, lambda: 1.0) for n in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 8.0]


def test_decorrelated_jitter_stays_between_initial_and_three_times_the_last_delay() -> None:
    backoff = RetryPolicy(initial=1.0, cap=20.0, jitter=Jitter.DECORRELATED).backoff(
        lambda: 1.0)
    assert [backoff.next() for _ in range(5)] == [3.0, 9.0, 20.0, 20.0, 20.0]
    low = RetryPolicy(initial=1.0, cap=20.0, jitter=Jitter.DECORRELATED).backoff(lambda: 0.0)
    assert [low.next() for _ in range(3)] == [1.0, 1.0, 1.0]


def test_a_backoff_starts_over_after_a_success() -> None:
    backoff = RetryPolicy(initial=1.0, cap=8.0).backoff(lambda: 1.0)
    assert [backoff.next() for _ in range(3)] == [1.0, 2.0, 4.0]
    backoff.reset()
    assert (backoff.next(), backoff.failures) == (1.0, 1)


def test_reconnections_are_at_least_ten_milliseconds_apart() -> None:
    policy = reconnection_policy(0.0, cap=5.0)
    assert (policy.initial, policy.cap, policy.jitter) == (0.01, 5.0, Jitter.EQUAL)


def test_a_policy_that_would_shrink_or_go_negative_is_refused() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(multiplier=0.5)
    with pytest.raises(ValueError):
        RetryPolicy(initial=-1.0)


@dataclass
class FakeSleep:
    waited: list[float] = field(default_factory=list)

    async def __call__(self, stop: asyncio.Event, seconds: float) -> None:
        if not stop.is_set():
            self.waited.append(seconds)


def outage(caplog: pytest.LogCaptureFixture, sleep: FakeSleep) -> Outage:
    caplog.set_level(logging.DEBUG, logger="test.outage")
    clock = iter([100.0, 107.5])
    return Outage(logging.getLogger("test.outage"), "broker",
                  RetryPolicy(initial=1.0, cap=8.0), random=lambda: 1.0,
                  clock=lambda: next(clock), sleep=sleep)


async def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sleep = FakeSleep()
    broker = outage(caplog, sleep)
    for _ in range(5):
        await broker.pause(ConnectionError("refused"), asyncio.Event())
    broker.recovered()

    by_level = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in by_level] == ["WARNING"] + ["DEBUG"] * 4 + ["INFO"]
    assert "retrying with backoff" in by_level[0][1]
    assert by_level[-1][1] == "broker: back after 7.5 s and 5 failed attempt(s)"
    assert sleep.waited == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert broker.failures == 0


async def test_an_outage_waits_no_more_once_shutdown_is_asked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sleep = FakeSleep()
    stop = asyncio.Event()
    stop.set()
    await outage(caplog, sleep).pause(ConnectionError("refused"), stop)
    assert sleep.waited == []


async def test_the_real_sleep_returns_as_soon_as_shutdown_is_asked() -> None:
    stop = asyncio.Event()
    reconnecting = asyncio.create_task(
        Outage(logging.getLogger("test"), "broker", RetryPolicy(initial=3600.0, cap=3600.0))
        .pause(ConnectionError("refused"), stop))
    await asyncio.sleep(0)
    stop.set()
    await asyncio.wait_for(reconnecting, 1.0)  # not an hour
