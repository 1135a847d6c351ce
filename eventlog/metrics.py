"""What every service's Prometheus registry holds besides its own metrics: the standard
process, platform and garbage-collector collectors, and the outbox backlog, which is absent
(no sample) while it is unknown instead of reading 0."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Protocol

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from eventlog.retry import sleep_unless

logger = logging.getLogger(__name__)

BACKLOG_INTERVAL = 15.0
"""Seconds between two reads of the outbox backlog."""


def service_registry() -> CollectorRegistry:
    """A registry of its own (nothing global at import) with ``process_*``,
    ``python_info`` and ``python_gc_*``."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


class OutboxBacklog(Collector):
    """``trainbridge_outbox_backlog``: events not yet confirmed by RabbitMQ, as of the last
    read; no sample while unknown (never read, or the last read failed), so an alert on it
    is not fooled by a 0 that only means the database did not answer."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.value: int | None = None
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("trainbridge_outbox_backlog",
                                   "Events not yet confirmed by RabbitMQ")
        if self.value is not None:
            family.add_metric([], self.value)
        yield family

    async def watch(self, read: Callable[[], Awaitable[int]], stop: asyncio.Event,
                    interval: float = BACKLOG_INTERVAL) -> None:
        """Read the backlog every ``interval`` seconds until ``stop``."""
        while not stop.is_set():
            try:
                self.value = await read()
            except Exception as exc:  # metrics go on when the database does not
                if self.value is not None:
                    logger.warning("outbox backlog unknown: %s", exc)
                self.value = None
            await sleep_unless(stop, interval)


class Consumed(Protocol):
    """What is exported of a consumer (``EventConsumer`` has it)."""

    @property
    def queue_name(self) -> str: ...

    handled_total: int
    redelivered_total: int
    dead_lettered_total: int
    queue_messages: int | None
    dead_letter_messages: int | None


class Relayed(Protocol):
    """What is exported of a relay (``OutboxRelay`` has it)."""

    published_total: int
    deferred_total: int


class MessagingCollector(Collector):
    """The in-memory counters of a process's relay and consumers, read at each scrape:
    ``trainbridge_consumer_messages_{handled,redelivered,dead_lettered}_total{queue}``,
    ``trainbridge_relay_events_{published,deferred}_total``, and the consumers' last reads
    of their queues' depths, ``trainbridge_consumer_{queue,dead_letter_queue}_messages{queue}``
    (no sample while unknown)."""

    def __init__(self, registry: CollectorRegistry, relay: Relayed | None,
                 consumers: Sequence[Consumed] = ()) -> None:
        self._relay = relay
        self._consumers = tuple(consumers)
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        if self._relay is not None:
            yield CounterMetricFamily("trainbridge_relay_events_published",
                                      "Events published and confirmed by RabbitMQ",
                                      value=self._relay.published_total)
            yield CounterMetricFamily("trainbridge_relay_events_deferred",
                                      "Events the broker refused (unroutable or nacked), "
                                      "left in the outbox for a later pass",
                                      value=self._relay.deferred_total)
        if not self._consumers:
            return
        for name, documentation, read in _CONSUMER_COUNTERS:
            family = CounterMetricFamily(name, documentation, labels=["queue"])
            for consumer in self._consumers:
                family.add_metric([consumer.queue_name], read(consumer))
            yield family
        for name, documentation, depth in _QUEUE_DEPTHS:
            gauge = GaugeMetricFamily(name, documentation, labels=["queue"])
            for consumer in self._consumers:
                value = depth(consumer)
                if value is not None:
                    gauge.add_metric([consumer.queue_name], value)
            yield gauge


_CONSUMER_COUNTERS: tuple[tuple[str, str, Callable[[Consumed], int]], ...] = (
    ("trainbridge_consumer_messages_handled", "Messages handled, by queue",
     lambda c: c.handled_total),
    ("trainbridge_consumer_messages_redelivered",
     "Deliveries of a message the broker had delivered before, by queue",
     lambda c: c.redelivered_total),
    ("trainbridge_consumer_messages_dead_lettered",
     "Messages dead-lettered (malformed, or failing every attempt), by queue",
     lambda c: c.dead_lettered_total),
)

_QUEUE_DEPTHS: tuple[tuple[str, str, Callable[[Consumed], int | None]], ...] = (
    ("trainbridge_consumer_queue_messages",
     "Messages ready in the consumer's queue, waiting for a consumer, by queue (as of the "
     "last read)", lambda c: c.queue_messages),
    ("trainbridge_consumer_dead_letter_queue_messages",
     "Messages in the queue's dead-letter queue, by queue (as of the last read)",
     lambda c: c.dead_letter_messages),
)
