"""The consumer machinery: effects and inbox commit together, duplicates are harmless,
poison ends in the dead-letter queue, shutdown drains, and a broker restart is survived."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
from collections import defaultdict

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractIncomingMessage

from eventlog import NewEvent, RecordedEvent, StoreUnavailableError, UnitOfWork
from eventlog.consumer import EventConsumer, Handler, Subscription
from eventlog.messages import to_message
from eventlog.postgres import PostgresEventStore
from tests.conftest import BrokerNamespace
from tests.integration.helpers import eventually, running
from tests.services import ServiceEndpoints


async def recorded(store: PostgresEventStore, stream_id: str, *types: str) -> list[RecordedEvent]:
    result = await store.append(stream_id, [NewEvent(t, {"i": i}) for i, t in enumerate(types)])
    return (await store.read_stream(stream_id))[-len(result.positions):]


async def publish(broker: BrokerNamespace, *events: RecordedEvent) -> None:
    connection = await aio_pika.connect(broker.settings.url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(broker.topology.events_exchange)
        for event in events:
            await exchange.publish(to_message(event), routing_key=event.event_type)


async def publish_raw(broker: BrokerNamespace, body: bytes, routing_key: str) -> None:
    connection = await aio_pika.connect(broker.settings.url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(broker.topology.events_exchange)
        await exchange.publish(aio_pika.Message(body, message_id="raw-1"), routing_key=routing_key)


async def ready_messages(broker: BrokerNamespace, queue: str) -> int:
    connection = await aio_pika.connect(broker.settings.url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        count = declared.declaration_result.message_count
    assert count is not None
    return count


async def dead_letters(broker: BrokerNamespace, consumer: str, count: int) -> list[
    AbstractIncomingMessage
]:
    found: list[AbstractIncomingMessage] = []

    async def arrived() -> bool:
        connection = await aio_pika.connect(broker.settings.url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.get_queue(broker.topology.dead_letter_queue(consumer))
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                found.append(message)
        return len(found) >= count

    await eventually(arrived, timeout=20, interval=0.1)
    return found


@pytest.fixture
def consumers(broker: BrokerNamespace, store: PostgresEventStore):  # type: ignore[no-untyped-def]
    def make(name: str, routing_keys: tuple[str, ...], handler: Handler) -> EventConsumer:
        broker.consumers.add(name)
        return EventConsumer(store, broker.settings, Subscription(name, routing_keys, handler),
                             drain_timeout=10)
    return make


async def consuming(consumer: EventConsumer) -> None:
    await asyncio.wait_for(consumer.consuming.wait(), 10)


async def test_the_handlers_effects_and_inbox_record_commit_together_before_the_ack(
    store: PostgresEventStore, broker: BrokerNamespace, consumers, sql: asyncpg.Connection,  # type: ignore[no-untyped-def]
) -> None:
    async def handler(uow: UnitOfWork, event: RecordedEvent) -> None:
        await uow.append(event.stream_id, [NewEvent("Handled", {"of": str(event.event_id)})])

    consumer = consumers("worker", ("Work",), handler)
    (work,) = await recorded(store, "model_run-1", "Work")

    async with running(consumer.run):
        await consuming(consumer)
        await publish(broker, work)
        await eventually(lambda: store.is_processed("worker", str(work.event_id)))

    assert [e.event_type for e in await store.read_stream("model_run-1")] == ["Work", "Handled"]
    assert await ready_messages(broker, consumer.queue_name) == 0
    assert await sql.fetchval("SELECT event_type FROM inbox WHERE consumer = 'worker'") == "Work"


async def test_a_redelivered_message_is_acked_without_running_the_handler_again(
    store: PostgresEventStore, broker: BrokerNamespace, consumers, sql: asyncpg.Connection,  # type: ignore[no-untyped-def]
) -> None:
    calls: list[str] = []

    async def handler(uow: UnitOfWork, event: RecordedEvent) -> None:
        calls.append(str(event.event_id))
        await uow.append(event.stream_id, [NewEvent("Handled", {})])

    consumer = consumers("worker", ("Work",), handler)
    (work,) = await recorded(store, "model_run-1", "Work")

    async with running(consumer.run):
        await consuming(consumer)
        await publish(broker, work, work, work)  # e.g. a relay that crashed before marking
        await eventually(lambda: store.is_processed("worker", str(work.event_id)))
        await eventually(lambda: _is_empty(broker, consumer.queue_name))

    assert calls == [str(work.event_id)]
    assert [e.event_type for e in await store.read_stream("model_run-1")] == ["Work", "Handled"]


async def _is_empty(broker: BrokerNamespace, queue: str) -> bool:
    return await ready_messages(broker, queue) == 0


async def test_a_failed_attempt_leaves_no_effects_and_the_message_is_retried(
    store: PostgresEventStore, broker: BrokerNamespace, consumers,  # type: ignore[no-untyped-def]
) -> None:
    attempts: list[int] = []

    async def flaky(uow: UnitOfWork, event: RecordedEvent) -> None:
        attempts.append(len(attempts) + 1)
        await uow.append(event.stream_id, [NewEvent("Handled", {"attempt": len(attempts)})])
        if len(attempts) == 1:
            raise ConnectionError("model store timed out")

    consumer = consumers("worker", ("Work",), flaky)
    (work,) = await recorded(store, "model_run-1", "Work")

    async with running(consumer.run):
        await consuming(consumer)
        await publish(broker, work)
        await eventually(lambda: store.is_processed("worker", str(work.event_id)))

    handled = [e for e in await store.read_stream("model_run-1") if e.event_type == "Handled"]
    assert attempts == [1, 2]
    assert [e.data["attempt"] for e in handled] == [2]


async def test_a_poison_message_is_dead_lettered_with_its_reason_after_max_attempts(
    store: PostgresEventStore, broker: BrokerNamespace, consumers,  # type: ignore[no-untyped-def]
) -> None:
    calls: list[int] = []

    async def always_fails(uow: UnitOfWork, event: RecordedEvent) -> None:
        calls.append(1)
        raise ValueError("unknown modelType 'bounding_box'")

    consumer = consumers("worker", ("Work",), always_fails)
    (work,) = await recorded(store, "model_run-1", "Work")

    async with running(consumer.run):
        await consuming(consumer)
        await publish(broker, work)
        (dead,) = await dead_letters(broker, "worker", 1)

    assert len(calls) == broker.settings.max_attempts == 3
    assert dead.message_id == str(work.event_id)
    assert dead.headers["x-trainbridge-error-type"] == "ValueError"
    assert "unknown modelType 'bounding_box'" in str(dead.headers["x-trainbridge-error"])
    assert dead.headers["x-trainbridge-attempts"] == 3
    assert "Traceback" in str(dead.headers["x-trainbridge-traceback"])
    assert json.loads(dead.body)["event_id"] == str(work.event_id)
    assert not await store.is_processed("worker", str(work.event_id))
    assert await ready_messages(broker, consumer.queue_name) == 0


async def test_a_malformed_message_goes_straight_to_the_dead_letter_queue(
    store: PostgresEventStore, broker: BrokerNamespace, consumers,  # type: ignore[no-untyped-def]
) -> None:
    calls: list[int] = []

    async def handler(uow: UnitOfWork, event: RecordedEvent) -> None:
        calls.append(1)

    consumer = consumers("worker", ("Work",), handler)
    async with running(consumer.run):
        await consuming(consumer)
        await publish_raw(broker, b"{not json", "Work")
        (dead,) = await dead_letters(broker, "worker", 1)

    assert calls == []
    assert dead.headers["x-trainbridge-error-type"] == "MalformedMessageError"
    assert dead.headers["x-trainbridge-attempts"] == 1


async def test_the_broker_dead_letters_a_message_that_crashes_every_consumer(
    store: PostgresEventStore, broker: BrokerNamespace, consumers,  # type: ignore[no-untyped-def]
) -> None:
    """A consumer that dies mid-message never gets to decide; the queue's explicit
    x-delivery-limit still ends the loop."""

    async def never_called(uow: UnitOfWork, event: RecordedEvent) -> None:
        raise AssertionError("not reached")

    consumer = consumers("worker", ("Work",), never_called)
    async with running(consumer.run):
        await consuming(consumer)  # declares the queue and its dead-letter queue
    (work,) = await recorded(store, "model_run-1", "Work")
    await publish(broker, work)

    for _ in range(broker.settings.max_attempts + 1):
        connection = await aio_pika.connect(broker.settings.url)
        channel = await connection.channel()
        queue = await channel.get_queue(consumer.queue_name)
        message = await queue.get(fail=False, timeout=5)
        if message is None:
            await connection.close()
            break
        await connection.close()  # "crash": the delivery is returned unacked

    (dead,) = await dead_letters(broker, "worker", 1)
    assert dead.message_id == str(work.event_id)
    assert dead.headers["x-death"][0]["reason"] == "delivery_limit"


async def test_one_streams_messages_are_handled_one_at_a_time_in_order(
    store: PostgresEventStore, broker: BrokerNamespace, consumers,  # type: ignore[no-untyped-def]
) -> None:
    order: dict[str, list[int]] = defaultdict(list)
    active: dict[str, int] = defaultdict(int)
    overlaps: list[str] = []
    rng = random.Random(7)

    async def handler(uow: UnitOfWork, event: RecordedEvent) -> None:
        active[event.stream_id] += 1
        if active[event.stream_id] > 1:
            overlaps.append(event.stream_id)
        await asyncio.sleep(rng.uniform(0, 0.02))
        order[event.stream_id].append(event.stream_version)
        active[event.stream_id] -= 1

    consumer = consumers("worker", ("Work",), handler)
    events = [e for s in range(4) for e in await recorded(store, f"s-{s}", *["Work"] * 6)]
    async with running(consumer.run):
        await consuming(consumer)
        await publish(broker, *events)
        await eventually(lambda: _all_processed(store, events))

    assert overlaps == []
    assert dict(order) == {f"s-{s}": [1, 2, 3, 4, 5, 6] for s in range(4)}


async def _all_processed(store: PostgresEventStore, events: list[RecordedEvent]) -> bool:
    done = [await store.is_processed("worker", str(e.event_id)) for e in events]
    return all(done)


async def test_sigterm_stops_consuming_drains_in_flight_work_and_exits_cleanly(
    store: PostgresEventStore, broker: BrokerNamespace, database_url: str,
) -> None:
    broker.consumers.add("worker")
    environment = {
        **os.environ,
        "TRAINBRIDGE_DATABASE_URL": database_url,
        "TRAINBRIDGE_AMQP_URL": broker.settings.url,
        "TRAINBRIDGE_AMQP_NAMESPACE": broker.settings.namespace,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.integration.consumer_process",
        env=environment, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    try:
        assert await asyncio.wait_for(process.stdout.readline(), 20) == b"consuming\n"
        first, second = await recorded(store, "model_run-1", "Work", "Work")
        await publish(broker, first)
        line = await asyncio.wait_for(process.stdout.readline(), 10)
        assert line.startswith(b"handler started")

        process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        await publish(broker, second)  # arrives after the consumer stopped consuming
        rest = await asyncio.wait_for(process.stdout.read(), 20)
        code = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert code == 0, rest.decode()
    assert b"handler finished" in rest and rest.endswith(b"stopped cleanly\n"), rest.decode()
    assert await store.is_processed("worker", str(first.event_id))
    assert not await store.is_processed("worker", str(second.event_id))
    assert await ready_messages(broker, broker.topology.queue("worker")) == 1


@pytest.mark.broker_restart
async def test_the_consumer_reconnects_and_resumes_after_a_rabbitmq_restart(
    store: PostgresEventStore, broker: BrokerNamespace, consumers,  # type: ignore[no-untyped-def]
    services: ServiceEndpoints,
) -> None:
    control = services.broker_control
    assert control is not None, services.broker_control_problem

    async def handler(uow: UnitOfWork, event: RecordedEvent) -> None:
        pass

    consumer = consumers("worker", ("Work",), handler)
    before, after = await recorded(store, "model_run-1", "Work", "Work")
    async with running(consumer.run):
        await consuming(consumer)
        await publish(broker, before)
        await eventually(lambda: store.is_processed("worker", str(before.event_id)))

        await asyncio.to_thread(control.stop_app)
        try:
            await eventually(lambda: _not_consuming(consumer), timeout=10)
        finally:
            await asyncio.to_thread(control.start_app)
        await asyncio.wait_for(consumer.consuming.wait(), 30)
        await publish(broker, after)
        await eventually(lambda: store.is_processed("worker", str(after.event_id)), timeout=20)


async def _not_consuming(consumer: EventConsumer) -> bool:
    return not consumer.consuming.is_set()


class DatabaseOutage:
    """The real store behind a database that is down for the first ``failures`` units of
    work (a fake at the port, not a mock)."""

    def __init__(self, store: PostgresEventStore, failures: int) -> None:
        self._store = store
        self.failures = failures

    def unit_of_work(self):  # type: ignore[no-untyped-def]
        if self.failures > 0:
            self.failures -= 1
            raise StoreUnavailableError("PostgreSQL unavailable: connection refused")
        return self._store.unit_of_work()

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)


async def test_a_database_outage_neither_spends_attempts_nor_dead_letters(
    store: PostgresEventStore, broker: BrokerNamespace,
) -> None:
    calls: list[str] = []

    async def handler(uow: UnitOfWork, event: RecordedEvent) -> None:
        calls.append(event.event_type)

    broker.consumers.add("worker")
    outage = DatabaseOutage(store, failures=broker.settings.max_attempts + 2)
    consumer = EventConsumer(outage, broker.settings,  # type: ignore[arg-type]
                             Subscription("worker", ("Work",), handler), drain_timeout=10)
    (work,) = await recorded(store, "model_run-1", "Work")

    async with running(consumer.run):
        await consuming(consumer)
        await publish(broker, work)
        await eventually(lambda: store.is_processed("worker", str(work.event_id)), timeout=30)

    assert calls == ["Work"]
    assert outage.failures == 0
    assert consumer.dead_lettered_total == 0


async def test_a_queue_declared_with_other_arguments_stops_the_consumer_with_a_clear_error(
    store: PostgresEventStore, broker: BrokerNamespace, consumers,  # type: ignore[no-untyped-def]
) -> None:
    async def handler(uow: UnitOfWork, event: RecordedEvent) -> None:
        pass

    first = consumers("worker", ("Work",), handler)
    async with running(first.run):
        await consuming(first)
    changed = EventConsumer(store, broker.with_settings(max_attempts=9),
                            Subscription("worker", ("Work",), handler))

    with pytest.raises(RuntimeError, match="exists with other arguments"):
        await asyncio.wait_for(changed.run(asyncio.Event()), 20)


async def test_the_consumer_reads_how_many_messages_wait_in_its_queue_and_dead_letters(
    store: PostgresEventStore, broker: BrokerNamespace,
) -> None:
    release = asyncio.Event()

    async def slow(uow: UnitOfWork, event: RecordedEvent) -> None:
        await release.wait()

    broker.consumers.add("worker")
    consumer = EventConsumer(store, broker.with_settings(prefetch=1),
                             Subscription("worker", ("Work",), slow), drain_timeout=10,
                             depth_interval=0.05)
    events = await recorded(store, "model_run-1", "Work", "Work", "Work")
    assert consumer.queue_messages is None  # unknown before it connects

    async with running(consumer.run):
        await consuming(consumer)
        await publish(broker, *events)

        async def two_waiting() -> bool:  # one delivered (prefetch 1) and held by slow()
            return consumer.queue_messages == 2

        await eventually(two_waiting, timeout=10)
        assert consumer.dead_letter_messages == 0
        release.set()

        async def none_waiting() -> bool:
            return consumer.queue_messages == 0

        await eventually(none_waiting, timeout=10)

    assert consumer.queue_messages is None and consumer.dead_letter_messages is None
