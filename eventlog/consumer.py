"""The consumer machinery the trainer and the reporter share.

Each delivery runs its handler in one unit of work that also records the message in the
inbox; the message is acked only after that commit. A redelivered message finds its inbox
row and is acked without running the handler again. A handler that keeps failing is
retried ``max_attempts`` times, then dead-lettered with the reason in its headers.
Deliveries of one stream are handled one at a time, in delivery order, in this process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Generic, TypeVar

import aio_pika
from aio_pika import Message
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage, AbstractQueue
from aio_pika.exceptions import ChannelPreconditionFailed

from eventlog import json_logs, telemetry
from eventlog.amqp import BROKER_ERRORS, connect, wait_first, watch_for_loss
from eventlog.contract import model_run_id_of
from eventlog.errors import StoreUnavailableError
from eventlog.events import RecordedEvent
from eventlog.keyed_locks import KeyedLocks
from eventlog.messages import MalformedMessageError, from_message
from eventlog.redaction import redact
from eventlog.retry import Jitter, Outage, RetryPolicy, reconnection_policy, sleep_unless
from eventlog.settings import BrokerSettings
from eventlog.store import EventStoreOf, UnitOfWork
from eventlog.topology import Topology, declare_consumer_queue
from eventlog.tracing import trace_id_of

logger = logging.getLogger(__name__)

U = TypeVar("U", bound=UnitOfWork)

QUEUE_DEPTH_INTERVAL = 15.0
"""Seconds between two reads of how many messages wait in a consumer's queues."""

Handler = Callable[[UnitOfWork, RecordedEvent], Awaitable[None]]
HandlerOf = Callable[[U, RecordedEvent], Awaitable[None]]
"""A handler that needs more than the event log from its unit of work (a service's own
repositories in the same transaction)."""
WakeUp = Callable[[RecordedEvent], Awaitable[None]]


@dataclass(frozen=True)
class Subscription(Generic[U]):
    consumer: str
    """Names the queue (``<namespace>.<consumer>``) and the inbox rows."""
    routing_keys: tuple[str, ...]
    """Event types (AMQP topic patterns) to receive."""
    handler: HandlerOf[U] | None = None
    """Runs in a unit of work with the inbox record: effects and "handled" commit together."""
    wake_up: WakeUp | None = None
    """Instead of ``handler``: for a consumer that reconciles from the log (the reporter),
    so a message is only a wake-up and needs no inbox row or transaction of its own."""

    def __post_init__(self) -> None:
        if (self.handler is None) == (self.wake_up is None):
            raise ValueError("a subscription has exactly one of handler and wake_up")


def delivery_count(message: AbstractIncomingMessage) -> int:
    """How many times the broker delivered this message before (quorum queues count)."""
    value = (message.headers or {}).get("x-delivery-count", 0)
    return value if isinstance(value, int) else 0


class EventConsumer(Generic[U]):
    def __init__(
        self,
        store: EventStoreOf[U],
        broker: BrokerSettings,
        subscription: Subscription[U],
        *,
        drain_timeout: float = 30.0,
        depth_interval: float = QUEUE_DEPTH_INTERVAL,
    ) -> None:
        self._store = store
        self._broker = broker
        self._subscription = subscription
        self._topology = Topology(broker.namespace)
        self._drain_timeout = drain_timeout
        self._depth_interval = depth_interval
        self._tasks: set[asyncio.Task[None]] = set()
        self._stream_locks = KeyedLocks()
        self._dead_letters: AbstractExchange | None = None
        self._stop = asyncio.Event()
        self._outage = Outage(logger, f"{self.queue_name}: broker",
                              reconnection_policy(broker.reconnect_delay))
        self._redelivery = RetryPolicy(initial=broker.retry_delay, jitter=Jitter.EQUAL)
        """Before a failed message is requeued: its n-th failure waits about
        ``retry_delay * 2**(n-1)`` (capped), so a poison message does not spin."""
        # One outage for all the deliveries in flight (up to the prefetch): logged once, not
        # once per message.
        self._database_outage = Outage(logger, f"{self.queue_name}: database",
                                       reconnection_policy(broker.reconnect_delay))
        self.consuming = asyncio.Event()
        """Set while the consumer is subscribed to its queue."""
        self.handled_total = 0
        self.redelivered_total = 0
        """Deliveries the broker had delivered before (after a failure, a lost connection or
        a restart)."""
        self.dead_lettered_total = 0
        self.queue_messages: int | None = None
        """Messages ready in the queue (delivered to no consumer yet), as of the last read;
        ``None`` while unknown (not connected)."""
        self.dead_letter_messages: int | None = None
        """Messages in the queue's dead-letter queue, as of the last read."""

    @property
    def queue_name(self) -> str:
        return self._topology.queue(self._subscription.consumer)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, then stop taking deliveries, finish those in
        flight, and close. Reconnects whenever the broker connection is lost."""
        self._stop = stop
        outage = self._outage
        while not stop.is_set():
            try:
                connection = await connect(self._broker.url)
            except BROKER_ERRORS as exc:
                await outage.pause(exc, stop)
                continue
            try:
                await self._consume(connection, stop)
            except ChannelPreconditionFailed as exc:
                raise RuntimeError(
                    f"{self.queue_name} exists with other arguments than this consumer "
                    f"declares ({exc}); e.g. TRAINBRIDGE_AMQP_MAX_ATTEMPTS changed its "
                    "x-delivery-limit. Delete the queue or restore the setting."
                ) from exc
            except BROKER_ERRORS as exc:
                lost: BaseException | None = exc
            else:
                lost = None if stop.is_set() else ConnectionError("connection lost")
            finally:
                self.consuming.clear()
                if stop.is_set():
                    await self._drain()
                await connection.close()
            if lost is not None and not stop.is_set():
                await outage.pause(lost, stop)

    async def _consume(
        self, connection: aio_pika.abc.AbstractConnection, stop: asyncio.Event
    ) -> None:
        lost = watch_for_loss(connection)
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=self._broker.prefetch)
        queue: AbstractQueue = await declare_consumer_queue(
            channel,
            self._topology,
            self._subscription.consumer,
            self._subscription.routing_keys,
            max_attempts=self._broker.max_attempts,
        )
        confirm_channel = await connection.channel(publisher_confirms=True)
        self._dead_letters = await confirm_channel.get_exchange(
            self._topology.dead_letter_exchange
        )
        tag = await queue.consume(self._on_delivery)
        self.consuming.set()
        self._outage.recovered()
        logger.info("%s: consuming", self.queue_name)
        depth = asyncio.create_task(self._watch_depth(connection))
        try:
            await wait_first(stop.wait(), lost.wait())
            if stop.is_set() and not lost.is_set():
                await queue.cancel(tag)
                logger.info("%s: stopped consuming; draining %d in flight", self.queue_name,
                            len(self._tasks))
        finally:
            depth.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await depth
            self.queue_messages = self.dead_letter_messages = None

    async def _watch_depth(self, connection: aio_pika.abc.AbstractConnection) -> None:
        """Read how many messages wait in the queue and in its dead-letter queue every
        ``depth_interval`` (a passive declare, on a channel of its own so that a failure
        never closes the consuming one). A failed read leaves both unknown, not stale, and
        the next read opens a new channel (a failed passive declare closes the old one)."""
        dead_letter_queue = self._topology.dead_letter_queue(self._subscription.consumer)
        channel: aio_pika.abc.AbstractChannel | None = None
        try:
            while True:
                try:
                    if channel is None or channel.is_closed:
                        channel = await connection.channel()
                    ready = await channel.declare_queue(self.queue_name, passive=True)
                    dead = await channel.declare_queue(dead_letter_queue, passive=True)
                    self.queue_messages = ready.declaration_result.message_count
                    self.dead_letter_messages = dead.declaration_result.message_count
                except Exception as exc:  # metrics go on when the broker does not answer
                    self.queue_messages = self.dead_letter_messages = None
                    logger.info("%s: queue depth unknown: %s", self.queue_name, exc)
                await asyncio.sleep(self._depth_interval)
        finally:
            if channel is not None and not channel.is_closed:
                with contextlib.suppress(Exception):
                    await channel.close()

    async def _on_delivery(self, message: AbstractIncomingMessage) -> None:
        # Run the handler in a task of our own, not aio-pika's: a lost channel then cannot
        # cancel a handler halfway through its transaction.
        task = asyncio.create_task(self._process(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self) -> None:
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=self._drain_timeout)
        for task in pending:
            task.cancel()
        if pending:
            logger.warning("%s: %d handler(s) cancelled after the drain timeout",
                           self.queue_name, len(pending))
            await asyncio.gather(*pending, return_exceptions=True)

    async def _process(self, message: AbstractIncomingMessage) -> None:
        if message.redelivered or delivery_count(message):
            self.redelivered_total += 1
        try:
            try:
                event = from_message(message)
            except MalformedMessageError as exc:
                await self._dead_letter(message, exc, attempts=delivery_count(message) + 1)
                return
            json_logs.model_run_id.set(model_run_id_of(event.stream_id))
            json_logs.correlation_id.set(event.correlation_id)
            json_logs.trace_id.set(trace_id_of(event.metadata.get("traceparent")))
            # The stream's lock is held until this delivery is settled, so a later delivery
            # of the same stream never overtakes a retry.
            async with self._stream_locks.hold(event.stream_id):
                with self._span(event):
                    try:
                        await self._handle_through_outages(event)
                    except StoreUnavailableError:
                        await _requeue_quietly(message)  # stopping while the database is down
                        return
                    except Exception as exc:
                        await self._failed(message, event, exc)
                        return
                    await message.ack()
        except BROKER_ERRORS as exc:
            logger.warning("%s: could not settle message %s (%s); the broker will redeliver it",
                           self.queue_name, message.message_id, exc)
        except asyncio.CancelledError:
            await _requeue_quietly(message)
            raise

    def _span(self, event: RecordedEvent) -> AbstractContextManager[None]:
        """With tracing on: the handling of ``event``, the child of the delivery's span
        (aio-pika's instrumentation), or else of the event's traceparent."""
        cause = None if telemetry.current_traceparent() else event.metadata.get("traceparent")
        return telemetry.span(f"{self.queue_name} process {event.event_type}",
                              kind="consumer", cause=cause, attributes={
                                  "messaging.system": "rabbitmq",
                                  "messaging.operation.type": "process",
                                  "messaging.destination.name": self.queue_name,
                                  "messaging.message.id": str(event.event_id),
                                  "trainbridge.stream_id": event.stream_id})

    async def _handle_through_outages(self, event: RecordedEvent) -> None:
        """A database outage is not the message's fault: keep the delivery and try again
        (backing off, logged once when it starts and once when it ends) instead of spending
        its attempts and dead-lettering it."""
        outage = self._database_outage
        while True:
            try:
                await self._handle(event)
            except StoreUnavailableError as exc:
                if self._stop.is_set():
                    raise
                await outage.pause(exc, self._stop)
                continue
            outage.recovered()
            return

    async def _handle(self, event: RecordedEvent) -> None:
        subscription = self._subscription
        if subscription.wake_up is not None:
            await subscription.wake_up(event)
            self.handled_total += 1
            return
        async with self._store.unit_of_work() as uow:
            first_time = await uow.record_processed(
                subscription.consumer, str(event.event_id), event.event_type
            )
            if first_time and subscription.handler is not None:
                await subscription.handler(uow, event)
        if first_time:
            self.handled_total += 1
        else:
            logger.info("%s: %s %s already handled; acking the duplicate",
                        self.queue_name, event.event_type, event.event_id)

    async def _failed(
        self, message: AbstractIncomingMessage, event: RecordedEvent, exc: Exception
    ) -> None:
        attempt = delivery_count(message) + 1
        if attempt >= self._broker.max_attempts:
            await self._dead_letter(message, exc, attempts=attempt)
            return
        delay = self._redelivery.delay(attempt)
        logger.warning("%s: %s %s failed (attempt %d of %d: %s); retrying in %.1fs",
                       self.queue_name, event.event_type, event.event_id, attempt,
                       self._broker.max_attempts, exc, delay)
        await sleep_unless(self._stop, delay)
        await message.nack(requeue=True)

    async def _dead_letter(
        self, message: AbstractIncomingMessage, exc: Exception, *, attempts: int
    ) -> None:
        """Publish a copy, with the reason, to the dead-letter queue; then ack the original."""
        if self._dead_letters is None:
            raise RuntimeError("dead-letter exchange not declared")
        headers = dict(message.headers or {})
        headers.update(
            {
                "x-trainbridge-consumer": self._subscription.consumer,
                "x-trainbridge-error-type": type(exc).__name__,
                "x-trainbridge-error": redact(str(exc))[:1000],
                "x-trainbridge-traceback": redact(
                    "".join(traceback.format_exception(exc)))[-4000:],
                "x-trainbridge-attempts": attempts,
                "x-trainbridge-original-routing-key": message.routing_key or "",
            }
        )
        copy = Message(
            message.body,
            headers=headers,
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            type=message.type,
            timestamp=message.timestamp,
            app_id=message.app_id,
        )
        await self._dead_letters.publish(copy, routing_key=self.queue_name)
        await message.ack()
        self.dead_lettered_total += 1
        logger.error("%s: dead-lettered message %s after %d attempt(s): %s: %s",
                     self.queue_name, message.message_id, attempts, type(exc).__name__, exc)


async def _requeue_quietly(message: AbstractIncomingMessage) -> None:
    # If the channel is gone, the broker requeues unacked deliveries itself.
    with contextlib.suppress(*BROKER_ERRORS):
        await message.nack(requeue=True)
