"""Small helpers around aio-pika that the relay and the consumers share."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

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


def watch_for_loss(connection: AbstractConnection) -> asyncio.Event:
    """An event set when ``connection`` closes for any reason. aio-pika's own
    ``connection.closed()`` and ``is_closed`` only notice a close *we* asked for, not the
    broker going away (checked against aio-pika 10 with ``rabbitmqctl stop_app``)."""
    lost = asyncio.Event()
    connection.close_callbacks.add(lambda *_: lost.set())
    return lost


def quiet_driver_logs() -> None:
    """aiormq logs an ERROR of its own for every failed connection attempt (two lines a
    second per connection while the broker is down); ``eventlog.retry.Outage`` reports
    outages instead.
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
