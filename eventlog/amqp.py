"""Small helpers around aio-pika that the relay and the consumers share."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import aiormq
from aio_pika.abc import AbstractConnection
from aio_pika.exceptions import AMQPError

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
