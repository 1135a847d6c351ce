"""Small helpers around aio-pika that the relay and the consumers share."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable

import aio_pika
import aiormq
from aio_pika.abc import AbstractConnection
from aio_pika.exceptions import AMQPError

from eventlog.errors import MisconfiguredError
from eventlog.redaction import redact

# What a lost or refused broker connection can raise; the caller reconnects.
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)


async def wait_first(*awaitables: Awaitable[object], timeout: float | None = None) -> None:
    """Wait until any of ``awaitables`` finishes (or ``timeout``), cancelling the rest."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Sleep for ``seconds``, returning early when ``stop`` is set."""
    await wait_first(stop.wait(), timeout=seconds)


def backoff(attempt: int, base: float, cap: float = 30.0) -> float:
    """Exponential delay for the ``attempt``-th retry (1-based)."""
    return float(min(cap, base * (2 ** max(0, attempt - 1))))


def watch_for_loss(connection: AbstractConnection) -> asyncio.Event:
    """An event set when ``connection`` closes for any reason. aio-pika's own
    ``connection.closed()`` and ``is_closed`` only notice a close *we* asked for, not the
    broker going away (checked against aio-pika 10 with ``rabbitmqctl stop_app``)."""
    lost = asyncio.Event()
    connection.close_callbacks.add(lambda *_: lost.set())
    return lost


def quiet_driver_logs() -> None:
    """aiormq logs an ERROR of its own for every failed connection attempt (two lines a
    second per connection while the broker is down); ``Outage`` reports outages instead.
    Called by the entry point, with the rest of the logging configuration."""
    logging.getLogger("aiormq.connection").setLevel(logging.CRITICAL)


def refusal(exc: BaseException, url: str) -> MisconfiguredError | None:
    """The one-line configuration error for a broker that refuses us (retrying cannot help),
    or ``None`` for an outage (retry)."""
    shown = f"TRAINBRIDGE_AMQP_URL={redact(url)}"
    if isinstance(exc, aiormq.exceptions.ProbableAuthenticationError):
        return MisconfiguredError(
            f"{shown}: RabbitMQ refused the user name or password (ACCESS_REFUSED); fix the "
            "credentials in the URL")
    if isinstance(exc, aiormq.exceptions.InvalidFrameError) and "Connection.Close" in str(exc):
        return MisconfiguredError(
            f"{shown}: RabbitMQ refused to open the connection (does the virtual host exist, "
            "and may this user use it?)")
    return None


async def connect(url: str) -> aio_pika.abc.AbstractConnection:
    """``aio_pika.connect``; a refusal (wrong credentials, unknown virtual host) raises
    ``MisconfiguredError`` instead of one of the ``BROKER_ERRORS`` callers retry."""
    try:
        return await aio_pika.connect(url)
    except BROKER_ERRORS as exc:
        refused = refusal(exc, url)
        if refused is not None:
            raise refused from None
        raise


class Outage:
    """Reconnection pacing and logging for one dependency: the first failure of an outage is
    logged once (WARNING), the retries are spaced exponentially with jitter and logged at
    DEBUG only, and the recovery is logged once (INFO)."""

    def __init__(self, logger: logging.Logger, what: str, base: float, cap: float = 30.0, *,
                 jitter: Callable[[], float] = random.random,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self._what = what
        self._base = max(base, 0.01)
        self._cap = max(cap, self._base)
        self._jitter = jitter
        self._clock = clock
        self._since: float | None = None
        self.failures = 0

    def failed(self, exc: BaseException) -> float:
        """Record a failure; the delay before the next try (half of the exponential delay,
        plus up to as much again at random, so a fleet of processes does not reconnect in
        step)."""
        self.failures += 1
        if self._since is None:
            self._since = self._clock()
            self._logger.warning("%s: %s; retrying with backoff (logged again once it is back)",
                                 self._what, redact(str(exc)) or type(exc).__name__)
        else:
            self._logger.debug("%s: still failing (%d attempts): %s", self._what,
                               self.failures, redact(str(exc)))
        delay = backoff(self.failures, self._base, self._cap)
        return delay / 2 + self._jitter() * delay / 2

    def recovered(self) -> None:
        if self._since is not None:
            self._logger.info("%s: back after %.1f s and %d failed attempt(s)", self._what,
                              self._clock() - self._since, self.failures)
        self._since = None
        self.failures = 0
