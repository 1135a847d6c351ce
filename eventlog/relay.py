"""The outbox relay: every committed event reaches the ``<namespace>.events`` topic exchange.

A pass claims pending outbox rows (whole streams at a time, see ``PostgresOutbox.claim``),
publishes them with publisher confirms kept in flight (a window shared by all streams; within
a stream, one after another), and marks a row published only after its confirm, in the
claim's transaction. A crash between confirm and
commit republishes the row: consumers deduplicate by ``message_id`` (the event id).
An unroutable (returned) or nacked event is deferred for a retry and holds back the later
events of its stream, so each stream is published in stream order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aio_pika.abc import AbstractExchange
from aio_pika.exceptions import DeliveryError, PublishError

from eventlog import telemetry
from eventlog.amqp import BROKER_ERRORS, connect, wait_first, watch_for_loss
from eventlog.errors import MisconfiguredError, StoreUnavailableError
from eventlog.messages import to_message
from eventlog.postgres import OutboxEntry, PostgresOutbox
from eventlog.retry import Outage, reconnection_policy, sleep_unless
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
        self._wanted = False
        """A commit in this process asked for a pass that no claim loop has started yet."""
        self._commits = 0
        """Commits in this process so far (``wake`` calls)."""
        self._wakeup = asyncio.Event()
        """Set to wake the waiting claim loops: a pass is wanted, or stop, or a lost
        connection."""
        self._last_claim = 0.0
        """When the latest pass began (event loop time): a poll is due ``poll_interval``
        after it, since that pass's claim saw every row committed before it."""
        self._policy = reconnection_policy(broker.reconnect_delay)
        self._database = Outage(logger, "relay: database", self._policy)
        self.connected = asyncio.Event()
        self.published_total = 0
        self.deferred_total = 0

    def wake(self) -> None:
        """Publish soon: register this with ``EventStore.on_commit``. One waiting claim loop
        takes the wake-up (a commit wants one pass, not a pass of every loop)."""
        self._commits += 1
        self._wanted = True
        self._wakeup.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop`` is set, reconnecting to the broker and the database. A
        broker that refuses our credentials raises ``MisconfiguredError``."""
        outage = Outage(logger, "relay", self._policy)
        restarts = self._policy.backoff()
        while not stop.is_set():
            try:
                connection = await connect(self._broker.url)
            except BROKER_ERRORS as exc:
                await outage.pause(exc, stop)
                continue
            try:
                lost = watch_for_loss(connection)
                async with connection:
                    channel = await connection.channel(
                        publisher_confirms=True, on_return_raises=True
                    )
                    exchange = await declare_events_exchange(channel, self._topology)
                    self.connected.set()
                    outage.recovered()
                    restarts.reset()
                    logger.info("relay: connected to the broker")
                    await self._pump(exchange, stop, lost)
            except StoreUnavailableError as exc:
                # Not the broker's fault: the broker outage (just recovered) stays closed and
                # the database's is logged once, however many reconnections it takes.
                await self._database.pause(exc, stop)
            except BROKER_ERRORS as exc:
                await outage.pause(exc, stop)
            except MisconfiguredError:
                raise
            except Exception:
                # A bug must not stop the relay for good: log it loudly and start over.
                logger.exception("relay: unexpected error; restarting the relay loop")
                await sleep_unless(stop, restarts.next())
            finally:
                self.connected.clear()

    async def _pump(
        self, exchange: AbstractExchange, stop: asyncio.Event, lost: asyncio.Event
    ) -> None:
        # Several claim loops overlap one batch's database work with another's publishing.
        # They cannot reorder a stream: a claim holds its streams' locks until it commits.
        # One of them polls (for commits of other processes and deferred retries); each of
        # the others claims when a commit here, or a full batch, asks for another pass.
        try:
            async with asyncio.TaskGroup() as loops:
                for n in range(self._settings.parallel_claims):
                    loops.create_task(self._claim_loop(exchange, stop, lost, polls=n == 0))
                loops.create_task(self._wake_at_end(stop, lost))
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None  # the first failure ended them all

    async def _wake_at_end(self, stop: asyncio.Event, lost: asyncio.Event) -> None:
        """Wake every waiting claim loop once ``stop`` or ``lost`` is set: one task for the
        pump, not two per wait. (It ends with the loops: they end only at ``stop`` or by
        raising, which cancels it.)"""
        await wait_first(stop.wait(), lost.wait())
        self._wakeup.set()

    async def _claim_loop(
        self, exchange: AbstractExchange, stop: asyncio.Event, lost: asyncio.Event, *,
        polls: bool,
    ) -> None:
        clock = asyncio.get_running_loop().time
        full = False
        while not stop.is_set():
            if lost.is_set():
                raise BrokerConnectionLostError("broker connection closed")
            # This pass's claim sees every commit made before it, except rows of streams
            # another pass holds (their locks are skipped). After a full batch, more may be
            # pending: this loop goes on alone. (Waking another loop to claim beside it
            # split the backlog between two claims, often both short of a full batch, and
            # both then waited: draining a backlog of 15,000 events took 13 s, not 4.)
            self._wanted = False
            commits = self._commits
            self._last_claim = clock()
            result = await self.publish_pending(exchange)
            self._database.recovered()
            full = result.claimed >= self._settings.batch_size
            if self._commits != commits:
                # A commit came while this pass held its streams' locks: the pass it woke
                # may have skipped that commit's rows of those streams (a run's next stage
                # event). One more pass, now that the locks are gone, instead of the poll.
                self._wanted = True
            if not full:
                await self._next_pass_wanted(stop, lost, polls=polls)

    async def _next_pass_wanted(
        self, stop: asyncio.Event, lost: asyncio.Event, *, polls: bool
    ) -> None:
        """Wait until a pass is wanted that no other loop has taken, ``stop``, a lost
        connection, or (``polls``) ``poll_interval`` after the latest pass of any loop."""
        clock = asyncio.get_running_loop().time
        while not (self._wanted or stop.is_set() or lost.is_set()):
            self._wakeup.clear()
            if not polls:
                await self._wakeup.wait()
                continue
            due = self._last_claim + self._settings.poll_interval
            if clock() >= due:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(due):
                    await self._wakeup.wait()

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
    ) -> list[BaseException | _NotSent | None]:
        """Publish each stream's entries one after another (the next only after the
        previous one's confirm, so a refused event can hold back its successors) while
        different streams' publishes share a window of confirms in flight."""
        window = asyncio.Semaphore(self._settings.confirm_window)
        outcomes: list[BaseException | _NotSent | None] = [NOT_SENT] * len(entries)
        by_stream: dict[str, list[int]] = {}
        for index, entry in enumerate(entries):
            by_stream.setdefault(entry.event.stream_id, []).append(index)

        async def publish_stream(indexes: list[int]) -> None:
            for index in indexes:
                event = entries[index].event
                try:
                    # With tracing on, aio-pika's instrumentation makes the publish's
                    # producer span: the event's child, not the relay loop's.
                    async with window:
                        with telemetry.continuing(event.metadata.get("traceparent")):
                            await exchange.publish(
                                to_message(event),
                                routing_key=event.event_type,
                                mandatory=True,
                                timeout=self._settings.confirm_timeout,
                            )
                except Exception as exc:
                    outcomes[index] = exc
                    return
                outcomes[index] = None

        await asyncio.gather(*(publish_stream(ix) for ix in by_stream.values()))
        return outcomes


class _NotSent:
    """An entry left unsent because an earlier entry of its stream failed."""


NOT_SENT = _NotSent()


def _sort_outcomes(
    entries: Sequence[OutboxEntry], outcomes: Sequence[BaseException | _NotSent | None]
) -> tuple[list[int], dict[str, list[int]], int]:
    """Published ids, deferred ids by reason, and how many have an unknown fate. Entries
    left unsent stay pending, behind the failed entry of their stream."""
    published: list[int] = []
    deferred: dict[str, list[int]] = {}
    unknown = 0
    for entry, outcome in zip(entries, outcomes, strict=True):
        if outcome is None:
            published.append(entry.outbox_id)
        elif isinstance(outcome, _NotSent):
            continue
        elif isinstance(outcome, PublishError):
            deferred.setdefault("unroutable: no queue is bound for this event type", []).append(
                entry.outbox_id
            )
        elif isinstance(outcome, DeliveryError):
            deferred.setdefault("nacked by the broker", []).append(entry.outbox_id)
        else:
            unknown += 1
    return published, deferred, unknown
