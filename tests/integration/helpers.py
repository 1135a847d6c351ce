"""Test helpers for the messaging tests: a probe queue that records what reached the
exchange, and a way to run a long-lived component in the background."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from tests.conftest import BrokerNamespace


@dataclass(frozen=True)
class Received:
    routing_key: str
    message_id: str
    correlation_id: str | None
    type: str | None
    delivery_mode: int
    headers: dict[str, Any]
    body: dict[str, Any]

    @classmethod
    def of(cls, message: AbstractIncomingMessage) -> Received:
        return cls(
            routing_key=message.routing_key or "",
            message_id=message.message_id or "",
            correlation_id=message.correlation_id,
            type=message.type,
            delivery_mode=int(message.delivery_mode or 0),
            headers=dict(message.headers or {}),
            body=json.loads(message.body),
        )


class Probe:
    """A durable quorum queue bound to the namespace's events exchange. It is read by
    polling with a fresh connection, so it keeps working across broker restarts."""

    def __init__(self, broker: BrokerNamespace, name: str = "probe") -> None:
        self._broker = broker
        self.queue = f"{broker.settings.namespace}.{name}"
        broker.extra_queues.add(self.queue)
        self.received: list[Received] = []

    async def bind(self, *routing_keys: str) -> None:
        connection = await aio_pika.connect(self._broker.settings.url)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(
                self._broker.topology.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True
            )
            queue = await channel.declare_queue(
                self.queue, durable=True, arguments={"x-queue-type": "quorum"}
            )
            for key in routing_keys:
                await queue.bind(exchange, routing_key=key)

    async def collect(self, count: int, timeout: float = 15.0) -> list[Received]:
        """Wait until at least ``count`` messages arrived in total; return all of them."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            try:
                connection = await aio_pika.connect(self._broker.settings.url)
            except (aio_pika.exceptions.AMQPError, OSError):
                await asyncio.sleep(0.2)
                continue
            async with connection:
                channel = await connection.channel()
                queue = await channel.get_queue(self.queue, ensure=False)
                while len(self.received) < count and time.monotonic() < deadline:
                    message = await queue.get(no_ack=True, fail=False)
                    if message is None:
                        await asyncio.sleep(0.01)
                    else:
                        self.received.append(Received.of(message))
        return self.received

    async def settle(self, quiet: float = 0.5, limit: float = 15.0) -> list[Received]:
        """Everything that arrives until the queue stays empty for ``quiet`` seconds."""
        deadline = time.monotonic() + limit
        while True:
            before = len(self.received)
            await self.collect(before + 1, timeout=quiet)
            if len(self.received) == before:
                return self.received
            if time.monotonic() > deadline:
                raise AssertionError(f"messages still arriving after {limit}s")


@asynccontextmanager
async def running(
    component: Callable[[asyncio.Event], Awaitable[None]],
) -> AsyncIterator[asyncio.Event]:
    """Run ``component(stop)`` in the background for the block; then stop it and wait."""
    stop = asyncio.Event()
    task = asyncio.create_task(component(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 15.0, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
