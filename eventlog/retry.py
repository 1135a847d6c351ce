"""The one retry policy: exponential delays with jitter, up to a cap, that stop on shutdown.

Every loop that retries uses it: the broker reconnections of the relay and the consumers
and the database waits (both through ``Outage``, which also logs them), a consumer's
redelivery of a failed message, the relay's restarts, the training worker's database waits,
``trainbridge dev``'s restarts of a child that keeps dying, and the reporter's Labelbox
calls (through a tenacity ``wait=`` in ``services.reporter.calls``: tenacity is the
reporter's dependency, not the event log's).

Jitter keeps a fleet of processes from retrying in step:

- ``FULL``: anywhere between 0 and the exponential delay (spreads the most: for calls that
  compete for a rate limit);
- ``EQUAL``: half the exponential delay plus up to as much again (never retries at once: for
  reconnecting to something that is down);
- ``DECORRELATED``: between ``initial`` and three times the previous delay (AWS's
  "decorrelated jitter"; grows without tracking the attempt number).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random as _random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from eventlog.redaction import redact

Random = Callable[[], float]
"""A number in [0, 1): ``random.random``, or a fixed value in tests."""
Sleep = Callable[[asyncio.Event, float], Awaitable[None]]
"""Wait some seconds unless the event is set first: ``sleep_unless``, or a fake in tests."""


class Jitter(enum.Enum):
    FULL = "full"
    EQUAL = "equal"
    DECORRELATED = "decorrelated"


@dataclass(frozen=True)
class RetryPolicy:
    initial: float = 1.0
    """Seconds before the first retry (before jitter)."""
    multiplier: float = 2.0
    cap: float = 30.0
    """No delay is longer than this."""
    jitter: Jitter = Jitter.EQUAL

    def __post_init__(self) -> None:
        if self.initial < 0 or self.cap < 0 or self.multiplier < 1:
            raise ValueError(f"invalid retry policy: {self}")

    def exponential(self, failures: int) -> float:
        """The delay after the ``failures``-th failure (1-based) before jitter, capped."""
        exponent = max(0, failures - 1)
        if self.initial == 0:
            return 0.0
        # Stop multiplying once past the cap: no float overflow after a week of outage.
        delay = self.initial
        for _ in range(exponent):
            delay *= self.multiplier
            if delay >= self.cap:
                break
        return min(self.cap, delay)

    def delay(self, failures: int, random: Random = _random.random,
              previous: float | None = None) -> float:
        """Seconds to wait after the ``failures``-th consecutive failure (1-based);
        ``previous`` is the last delay waited (decorrelated jitter grows from it)."""
        if self.jitter is Jitter.DECORRELATED:
            low = min(self.initial, self.cap)
            high = min(self.cap, max(low, (previous or low) * 3))
            return low + random() * (high - low)
        exponential = self.exponential(failures)
        if self.jitter is Jitter.FULL:
            return random() * exponential
        return exponential / 2 + random() * exponential / 2

    def backoff(self, random: Random = _random.random) -> Backoff:
        return Backoff(self, random)


class Backoff:
    """One sequence of retries under a policy: ``next()`` after each failure, ``reset()``
    after a success."""

    def __init__(self, policy: RetryPolicy, random: Random = _random.random) -> None:
        self.policy = policy
        self._random = random
        self.failures = 0
        self._previous: float | None = None

    def next(self) -> float:
        self.failures += 1
        self._previous = self.policy.delay(self.failures, self._random, self._previous)
        return self._previous

    def reset(self) -> None:
        self.failures = 0
        self._previous = None


async def sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Sleep for ``seconds``, returning early when ``stop`` is set."""
    if stop.is_set():
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


class Outage:
    """Retry pacing and logging for one dependency (a broker or a database connection): the
    first failure of an outage is logged once (WARNING), the retries are spaced by the policy
    and logged at DEBUG only, and the recovery is logged once (INFO)."""

    def __init__(self, logger: logging.Logger, what: str, policy: RetryPolicy, *,
                 random: Random = _random.random,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Sleep | None = None) -> None:
        self._logger = logger
        self._what = what
        self._backoff = Backoff(policy, random)
        self._clock = clock
        self._sleep = sleep or sleep_unless
        self._since: float | None = None

    @property
    def failures(self) -> int:
        return self._backoff.failures

    def failed(self, exc: BaseException) -> float:
        """Record a failure; returns the delay before the next try."""
        delay = self._backoff.next()
        if self._since is None:
            self._since = self._clock()
            self._logger.warning("%s: %s; retrying with backoff (logged again once it is back)",
                                 self._what, redact(str(exc)) or type(exc).__name__)
        else:
            self._logger.debug("%s: still failing (%d attempts): %s", self._what,
                               self.failures, redact(str(exc)))
        return delay

    async def pause(self, exc: BaseException, stop: asyncio.Event) -> None:
        """Record a failure and wait the delay before the next try; returns at once when
        ``stop`` is set (a shutdown never waits for a backoff)."""
        await self._sleep(stop, self.failed(exc))

    def recovered(self) -> None:
        if self._since is not None:
            self._logger.info("%s: back after %.1f s and %d failed attempt(s)", self._what,
                              self._clock() - self._since, self.failures)
        self._since = None
        self._backoff.reset()


def reconnection_policy(initial: float, cap: float = 30.0) -> RetryPolicy:
    """Reconnecting to a broker or a database: equal jitter (never at once), at least 10 ms
    apart, at most ``cap``."""
    initial = max(initial, 0.01)
    return RetryPolicy(initial=initial, cap=max(cap, initial), jitter=Jitter.EQUAL)
