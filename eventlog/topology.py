"""RabbitMQ names and declarations. Every name starts with the broker namespace (default
``trainbridge``), so tests and side-by-side deployments can share one broker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aio_pika import ExchangeType
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue


@dataclass(frozen=True)
class Topology:
    namespace: str = "trainbridge"

    @property
    def events_exchange(self) -> str:
        """Topic exchange every event is published to; routing key = event type."""
        return f"{self.namespace}.events"

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.namespace}.dead-letter"

    def queue(self, consumer: str) -> str:
        return f"{self.namespace}.{consumer}"

    def dead_letter_queue(self, consumer: str) -> str:
        return f"{self.namespace}.{consumer}.dead-letter"


async def declare_events_exchange(channel: AbstractChannel, topology: Topology) -> AbstractExchange:
    return await channel.declare_exchange(
        topology.events_exchange, ExchangeType.TOPIC, durable=True
    )


async def declare_consumer_queue(
    channel: AbstractChannel,
    topology: Topology,
    consumer: str,
    routing_keys: Sequence[str],
    *,
    max_attempts: int,
) -> AbstractQueue:
    """A quorum queue bound to ``routing_keys`` with its own dead-letter queue. A message
    delivered ``max_attempts`` times without an ack is dead-lettered by the broker, even if
    every attempt crashed the consumer before it could decide."""
    events = await declare_events_exchange(channel, topology)
    dead_letters = await channel.declare_exchange(
        topology.dead_letter_exchange, ExchangeType.DIRECT, durable=True
    )
    dead_letter_queue = await channel.declare_queue(
        topology.dead_letter_queue(consumer),
        durable=True,
        arguments={"x-queue-type": "quorum"},
    )
    await dead_letter_queue.bind(dead_letters, routing_key=topology.queue(consumer))
    queue = await channel.declare_queue(
        topology.queue(consumer),
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": topology.dead_letter_exchange,
            "x-dead-letter-routing-key": topology.queue(consumer),
            "x-delivery-limit": max_attempts,
        },
    )
    for routing_key in routing_keys:
        await queue.bind(events, routing_key=routing_key)
    return queue
