"""The outbox relay: every committed event reaches the ``<namespace>.events`` topic exchange.

A pass claims pending outbox rows (whole streams at a time, see ``PostgresOutbox.claim``),
publishes them in order with publisher confirms kept in flight (a window), and marks a row
published only after its confirm, in the claim's transaction. A crash between confirm and
commit republishes the row: consumers deduplicate by ``message_id`` (the event id).
An unroutable (returned) or nacked event is deferred for a retry and holds back the later
events of its stream, so each stream is published in stream order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractExchange
from aio_pika.exceptions import DeliveryError, PublishError

from eventlog.amqp import BROKER_ERRORS, sleep_unless, wait_first
from eventlog.errors import StoreUnavailableError
from eventlog.messages import to_message
from eventlog.postgres import OutboxEntry, PostgresOutbox
from eventlog.settings import BrokerSettings, RelaySettings
from eventlog.topology import Topology, declare_events_exchange

logger = logging.getLogger(__name__)


class BrokerConnectionLostError(ConnectionError):
    """Some publishes of a batch have an unknown fate; reconnect and publish them again."""


@dataclass(frozen=True)
class PassResult:
    claimed: int
    published: int
    deferred: int


class OutboxRelay:
    def __init__(
        self, outbox: PostgresOutbox, broker: BrokerSettings, settings: RelaySettings
    ) -> None:
        self._outbox = outbox
        self._broker = broker
        self._settings = settings
        self._topology = Topology(broker.namespace)
        self._wakeup = asyncio.Event()
        self.connected = asyncio.Event()
        self.published_total = 0
        self.deferred_total = 0

    def wake(self) -> None:
        """Publish soon: register this with ``EventStore.on_commit``."""
        self._wakeup.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop`` is set, reconnecting to the broker and the database."""
        while not stop.is_set():
            try:
                connection = await aio_pika.connect(self._broker.url)
            except BROKER_ERRORS as exc:
                logger.warning("relay: broker unreachable (%s); retrying", exc)
                await sleep_unless(stop, self._broker.reconnect_delay)
                continue
            try:
                async with connection:
                    channel = await connection.channel(
                        publisher_confirms=True, on_return_raises=True
                    )
                    exchange = await declare_events_exchange(channel, self._topology)
                    self.connected.set()
                    logger.info("relay: connected to the broker")
                    await self._pump(exchange, stop, connection)
            except (*BROKER_ERRORS, StoreUnavailableError) as exc:
                logger.warning("relay: %s: %s; reconnecting", type(exc).__name__, exc)
                await sleep_unless(stop, self._broker.reconnect_delay)
            finally:
                self.connected.clear()

    async def _pump(
        self, exchange: AbstractExchange, stop: asyncio.Event, connection: aio_pika.Connection
    ) -> None:
        while not stop.is_set():
            if connection.is_closed:
                raise BrokerConnectionLostError("broker connection closed")
            self._wakeup.clear()
            result = await self.publish_pending(exchange)
            if result.claimed < self._settings.batch_size:
                await wait_first(
                    self._wakeup.wait(),
                    stop.wait(),
                    connection.closed(),
                    timeout=self._settings.poll_interval,
                )

    async def publish_pending(self, exchange: AbstractExchange) -> PassResult:
        """One pass: claim a batch, publish it, record what the broker confirmed."""
        async with self._outbox.claim(self._settings.batch_size) as batch:
            if not batch.entries:
                return PassResult(0, 0, 0)
            outcomes = await self._publish(exchange, batch.entries)
            published, deferred, unknown = _sort_outcomes(batch.entries, outcomes)
            await batch.mark_published(published)
            for error, ids in deferred.items():
                await batch.defer(ids, error, self._settings.retry_delay)
        self.published_total += len(published)
        deferred_count = sum(len(ids) for ids in deferred.values())
        self.deferred_total += deferred_count
        if deferred_count:
            logger.warning("relay: deferred %d event(s): %s", deferred_count, list(deferred))
        if unknown:
            raise BrokerConnectionLostError(f"{unknown} publish(es) unconfirmed")
        return PassResult(len(batch.entries), len(published), deferred_count)

    async def _publish(
        self, exchange: AbstractExchange, entries: Sequence[OutboxEntry]
    ) -> list[BaseException | None]:
        window = asyncio.Semaphore(self._settings.confirm_window)
        tasks: list[asyncio.Task[object]] = []
        for entry in entries:
            # Acquire before creating the task: tasks then start, and reach the channel's
            # FIFO write lock, in entry order, so the broker receives them in stream order.
            await window.acquire()
            task = asyncio.create_task(
                exchange.publish(
                    to_message(entry.event),
                    routing_key=entry.event.event_type,
                    mandatory=True,
                    timeout=self._settings.confirm_timeout,
                )
            )
            task.add_done_callback(lambda _: window.release())
            tasks.append(task)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        return [r if isinstance(r, BaseException) else None for r in results]


def _sort_outcomes(
    entries: Sequence[OutboxEntry], outcomes: Sequence[BaseException | None]
) -> tuple[list[int], dict[str, list[int]], int]:
    """Published ids, deferred ids by reason, and how many have an unknown fate. After the
    first failure in a stream, its later entries are not marked (they will be sent again
    after the failed one, keeping stream order)."""
    published: list[int] = []
    deferred: dict[str, list[int]] = {}
    unknown = 0
    blocked: set[str] = set()
    for entry, outcome in zip(entries, outcomes, strict=True):
        stream = entry.event.stream_id
        if outcome is None and stream not in blocked:
            published.append(entry.outbox_id)
            continue
        if outcome is None:
            continue
        blocked.add(stream)
        if isinstance(outcome, PublishError):
            deferred.setdefault("unroutable: no queue is bound for this event type", []).append(
                entry.outbox_id
            )
        elif isinstance(outcome, DeliveryError):
            deferred.setdefault("nacked by the broker", []).append(entry.outbox_id)
        else:
            unknown += 1
    return published, deferred, unknown
