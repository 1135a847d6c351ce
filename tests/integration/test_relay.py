"""The outbox relay: every committed event reaches RabbitMQ, in stream order, across
broker and database failures."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from uuid import uuid4

import asyncpg
import pytest

from eventlog import NewEvent, event_metadata
from eventlog.postgres import PostgresEventStore, PostgresOutbox, create_pool
from eventlog.postgres.outbox import OutboxBatch
from eventlog.relay import OutboxRelay
from eventlog.settings import DatabaseSettings, RelaySettings
from tests.conftest import BrokerNamespace
from tests.integration.conftest import terminate_backends
from tests.integration.helpers import Probe, Received, eventually, running
from tests.services import ServiceEndpoints


def requested(n: int = 0, correlation_id: str = "corr-1") -> NewEvent:
    return NewEvent(
        "TrainingRequested",
        {"n": n},
        event_metadata(producer="test", correlation_id=correlation_id, causation_id="cause-1",
                       traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    )


def first_deliveries_per_stream(received: list[Received]) -> dict[str, list[int]]:
    seen: set[str] = set()
    order: dict[str, list[int]] = defaultdict(list)
    for message in received:
        if message.message_id not in seen:
            seen.add(message.message_id)
            order[message.body["stream_id"]].append(message.body["stream_version"])
    return order


async def unpublished(sql: asyncpg.Connection) -> int:
    count: int = await sql.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    return count


async def test_a_committed_event_is_published_with_its_identity_and_context(
    store: PostgresEventStore, outbox: PostgresOutbox, broker: BrokerNamespace,
    relay_settings: RelaySettings, sql: asyncpg.Connection,
) -> None:
    probe = Probe(broker)
    await probe.bind("#")
    event = requested(correlation_id="corr-42")
    await store.append("model_run-1", [event])

    relay = OutboxRelay(outbox, broker.settings, relay_settings)
    async with running(relay.run):
        (message,) = await probe.collect(1)
        await eventually(lambda: _none_pending(sql))

    assert message.routing_key == "TrainingRequested"
    assert message.type == "TrainingRequested"
    assert message.message_id == str(event.event_id)
    assert message.correlation_id == "corr-42"
    assert message.delivery_mode == 2  # persistent
    assert message.headers["stream_id"] == "model_run-1"
    assert message.headers["stream_version"] == 1
    assert message.headers["causation_id"] == "cause-1"
    assert message.headers["traceparent"].startswith("00-0af7651916cd43dd")
    assert message.body["data"] == {"n": 0}
    assert message.body["metadata"]["producer"] == "test"
    published = await sql.fetchrow("SELECT published_at, attempts FROM outbox")
    assert published["published_at"] is not None and published["attempts"] == 1


async def _none_pending(sql: asyncpg.Connection) -> bool:
    return await unpublished(sql) == 0


async def test_a_commit_in_the_same_process_wakes_the_relay_at_once(
    store: PostgresEventStore, outbox: PostgresOutbox, broker: BrokerNamespace,
) -> None:
    probe = Probe(broker)
    await probe.bind("#")
    slow_poll = RelaySettings(poll_interval=30.0)
    relay = OutboxRelay(outbox, broker.settings, slow_poll)
    store.on_commit(relay.wake)

    async with running(relay.run):
        await asyncio.wait_for(relay.connected.wait(), 10)
        await asyncio.sleep(0.2)  # the relay is idle, waiting out its 30 s poll
        started = time.monotonic()
        await store.append("model_run-1", [requested()])
        await probe.collect(1, timeout=5)
        latency = time.monotonic() - started

    assert len(probe.received) == 1
    assert latency < 1.0, f"woken after {latency:.3f}s, not by the commit"


class CountingOutbox(PostgresOutbox):
    """The outbox, counting its claims (each a transaction: BEGIN, claim, COMMIT)."""

    claims = 0

    def claim(self, limit: int) -> AbstractAsyncContextManager[OutboxBatch]:
        self.claims += 1
        return super().claim(limit)


async def test_each_commit_costs_one_claim_whatever_the_number_of_claim_loops(
    pool: asyncpg.Pool, store: PostgresEventStore, broker: BrokerNamespace,
    sql: asyncpg.Connection,
) -> None:
    probe = Probe(broker)
    await probe.bind("#")
    outbox = CountingOutbox(pool)
    relay = OutboxRelay(outbox, broker.settings, RelaySettings(poll_interval=30.0,
                                                               parallel_claims=3))
    store.on_commit(relay.wake)

    async with running(relay.run):
        await asyncio.wait_for(relay.connected.wait(), 10)
        await eventually(lambda: _claims_at_least(outbox, 3))  # each loop's first pass
        await asyncio.sleep(0.2)
        before = outbox.claims
        for n in range(5):
            await store.append(f"model_run-{n}", [requested(n)])
            await probe.collect(n + 1, timeout=5)
            await eventually(lambda: _none_pending(sql))
        claims = outbox.claims - before

    assert claims == 5


async def test_an_idle_relay_polls_once_per_interval_not_once_per_claim_loop(
    pool: asyncpg.Pool, broker: BrokerNamespace,
) -> None:
    outbox = CountingOutbox(pool)
    relay = OutboxRelay(outbox, broker.settings, RelaySettings(poll_interval=0.1,
                                                               parallel_claims=3))

    async with running(relay.run):
        await asyncio.wait_for(relay.connected.wait(), 10)
        await asyncio.sleep(0.3)
        before = outbox.claims
        await asyncio.sleep(1.0)
        polls = outbox.claims - before

    assert 3 <= polls <= 12, polls  # one loop polling (three would make about 30)


async def test_a_backlog_of_many_batches_is_published_without_waiting_for_a_poll(
    pool: asyncpg.Pool, store: PostgresEventStore, broker: BrokerNamespace,
    sql: asyncpg.Connection,
) -> None:
    # After a burst, full batches follow one another until the backlog is gone: no claim
    # left short of a batch (two loops splitting the rows) waits out the poll interval.
    probe = Probe(broker)
    await probe.bind("#")
    relay = OutboxRelay(PostgresOutbox(pool), broker.settings,
                        RelaySettings(poll_interval=30.0, parallel_claims=2, batch_size=50))

    async with running(relay.run):
        await asyncio.wait_for(relay.connected.wait(), 10)
        await asyncio.sleep(0.2)  # both loops' first passes found nothing: idle till a poll
        for n in range(600):  # twelve batches, committed without waking the relay
            await store.append(f"model_run-{n}", [requested(n)])
        started = time.monotonic()
        relay.wake()
        await probe.collect(600, timeout=20)
        took = time.monotonic() - started

    assert await unpublished(sql) == 0
    assert took < 10, f"{took:.1f}s: a pass waited for the 30 s poll"


async def test_a_commit_to_a_stream_another_pass_holds_is_published_without_a_poll(
    store: PostgresEventStore, outbox: PostgresOutbox, broker: BrokerNamespace,
) -> None:
    # A run's events in quick succession: the second commits while a pass publishes the
    # first and holds its stream's lock, so the pass the commit wakes skips it.
    probe = Probe(broker)
    await probe.bind("#")
    relay = OutboxRelay(outbox, broker.settings, RelaySettings(poll_interval=30.0,
                                                               parallel_claims=2))
    store.on_commit(relay.wake)

    async with running(relay.run):
        await asyncio.wait_for(relay.connected.wait(), 10)
        await asyncio.sleep(0.2)
        for round_ in range(5):
            stream = f"model_run-{round_}"
            await store.append(stream, [requested(2 * round_)])
            await store.append(stream, [requested(2 * round_ + 1)])
            received = await probe.collect(2 * round_ + 2, timeout=3)
            assert len(received) == 2 * round_ + 2, f"round {round_}: waited for a poll"


async def _claims_at_least(outbox: CountingOutbox, count: int) -> bool:
    return outbox.claims >= count


async def test_events_committed_by_another_process_are_found_by_the_poll(
    database_url: str, outbox: PostgresOutbox, broker: BrokerNamespace,
) -> None:
    probe = Probe(broker)
    await probe.bind("#")
    relay = OutboxRelay(outbox, broker.settings, RelaySettings(poll_interval=0.3))
    other_pool = await create_pool(DatabaseSettings(url=database_url))
    other_process = PostgresEventStore(other_pool)  # no on_commit link to this relay

    async with running(relay.run):
        await other_process.append("model_run-1", [requested()])
        received = await probe.collect(1, timeout=5)
    await other_pool.close()

    assert len(received) == 1


async def test_several_relays_publish_every_event_in_stream_order(
    store: PostgresEventStore, database_url: str, broker: BrokerNamespace,
    relay_settings: RelaySettings, sql: asyncpg.Connection,
) -> None:
    probe = Probe(broker)
    await probe.bind("#")
    streams, per_stream = 12, 15
    settings = replace(relay_settings, batch_size=7, confirm_window=4, poll_interval=0.05)
    pools = [await create_pool(DatabaseSettings(url=database_url)) for _ in range(3)]
    relays = [OutboxRelay(PostgresOutbox(p), broker.settings, settings) for p in pools]
    for relay in relays:
        store.on_commit(relay.wake)

    async def write(stream: int) -> None:
        for n in range(per_stream):
            await store.append(f"model_run-{stream}", [requested(n)])

    async with running(relays[0].run), running(relays[1].run), running(relays[2].run):
        await asyncio.gather(*(write(s) for s in range(streams)))
        await eventually(lambda: _none_pending(sql))
        received = await probe.settle()
    for p in pools:
        await p.close()

    assert {m.message_id for m in received} == {
        str(r["event_id"]) for r in await sql.fetch("SELECT event_id FROM events")
    }
    for stream, versions in first_deliveries_per_stream(received).items():
        assert versions == list(range(1, per_stream + 1)), stream
    assert sum(relay.published_total for relay in relays) == streams * per_stream


async def test_an_unroutable_event_waits_and_holds_back_only_its_own_stream(
    store: PostgresEventStore, outbox: PostgresOutbox, broker: BrokerNamespace,
    relay_settings: RelaySettings, sql: asyncpg.Connection,
) -> None:
    probe = Probe(broker)
    await probe.bind("Bound")
    await store.append("stuck", [NewEvent("Orphan", {}), NewEvent("Bound", {"n": 2})])
    await store.append("free", [NewEvent("Bound", {"n": 1})])
    relay = OutboxRelay(outbox, broker.settings, relay_settings)

    async with running(relay.run):
        first = await probe.collect(1)
        await eventually(lambda: _attempted(sql, "Orphan"))
        await asyncio.sleep(relay_settings.retry_delay)
        assert [m.body["stream_id"] for m in await probe.settle()] == ["free"]
        orphan = await sql.fetchrow(
            "SELECT published_at, last_error FROM outbox WHERE event_type = 'Orphan'"
        )
        assert orphan["published_at"] is None
        assert "unroutable" in orphan["last_error"]

        await probe.bind("Orphan")  # someone starts listening: the stream flows again
        await eventually(lambda: _none_pending(sql))
        received = await probe.settle()

    assert first[0].body["stream_id"] == "free"
    assert first_deliveries_per_stream(received)["stuck"] == [1, 2]


async def _attempted(sql: asyncpg.Connection, event_type: str) -> bool:
    attempts = await sql.fetchval(
        "SELECT attempts FROM outbox WHERE event_type = $1", event_type
    )
    return bool(attempts)


@pytest.mark.broker_restart
async def test_the_relay_survives_a_rabbitmq_restart_without_losing_an_event(
    store: PostgresEventStore, outbox: PostgresOutbox, broker: BrokerNamespace,
    relay_settings: RelaySettings, sql: asyncpg.Connection, services: ServiceEndpoints,
) -> None:
    control = services.broker_control
    assert control is not None, services.broker_control_problem
    probe = Probe(broker)
    await probe.bind("#")
    relay = OutboxRelay(outbox, broker.settings, relay_settings)
    store.on_commit(relay.wake)

    async with running(relay.run):
        await store.append("before", [requested(n) for n in range(5)])
        await eventually(lambda: _none_pending(sql))
        await asyncio.to_thread(control.stop_app)
        try:
            await store.append("during", [requested(n) for n in range(5)])
            await asyncio.sleep(1.0)
            assert await unpublished(sql) == 5, "published while the broker was down?"
        finally:
            await asyncio.to_thread(control.start_app)
        await store.append("after", [requested(n) for n in range(5)])
        await eventually(lambda: _none_pending(sql), timeout=30)
        received = await probe.settle()

    order = first_deliveries_per_stream(received)
    assert order == {s: [1, 2, 3, 4, 5] for s in ("before", "during", "after")}


async def test_the_relay_survives_its_database_connections_being_killed(
    store: PostgresEventStore, outbox: PostgresOutbox, broker: BrokerNamespace,
    relay_settings: RelaySettings, sql: asyncpg.Connection,
) -> None:
    probe = Probe(broker)
    await probe.bind("#")
    relay = OutboxRelay(outbox, broker.settings, relay_settings)
    store.on_commit(relay.wake)

    async with running(relay.run):
        await store.append("before", [requested()])
        await eventually(lambda: _none_pending(sql))
        assert await terminate_backends(sql) >= 1
        # The writer's pooled connections died too: the store notices and reconnects.
        await store.append("after", [requested()])
        await eventually(lambda: _none_pending(sql), timeout=20)
        received = await probe.settle()

    assert sorted(m.body["stream_id"] for m in received) == ["after", "before"]


async def test_a_duplicate_event_id_is_published_once(
    store: PostgresEventStore, outbox: PostgresOutbox, broker: BrokerNamespace,
    relay_settings: RelaySettings,
) -> None:
    probe = Probe(broker)
    await probe.bind("#")
    event = NewEvent("TrainingRequested", {}, event_id=uuid4())
    await store.append("model_run-1", [event])
    await store.append("model_run-1", [event])
    relay = OutboxRelay(outbox, broker.settings, relay_settings)

    async with running(relay.run):
        received = await probe.collect(1)
        received = await probe.settle()

    assert [m.message_id for m in received] == [str(event.event_id)]


async def test_every_append_path_queues_exactly_one_outbox_row_per_event(
    store: PostgresEventStore, sql: asyncpg.Connection,
) -> None:
    await store.append("a", [requested(1), requested(2)])
    async with store.unit_of_work() as uow:
        await uow.append("b", [requested(3)])
    repeat = requested(4)
    await store.append("c", [repeat])
    await store.append("c", [repeat])

    rows = await sql.fetch(
        "SELECT o.stream_id, o.stream_version, o.event_type FROM outbox o "
        "JOIN events e USING (global_position) WHERE o.event_id = e.event_id ORDER BY o.id"
    )
    assert [tuple(r) for r in rows] == [
        ("a", 1, "TrainingRequested"), ("a", 2, "TrainingRequested"),
        ("b", 1, "TrainingRequested"), ("c", 1, "TrainingRequested"),
    ]
