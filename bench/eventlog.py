"""Event log benchmark (not a test). In one run, against the same PostgreSQL and RabbitMQ:

(a) append throughput of ``PostgresEventStore.append`` with 8 concurrent writers, against a
    raw asyncpg baseline of single-row INSERT+COMMIT with 8 concurrent connections;
(b) outbox relay publish throughput (claim, publish with windowed confirms, mark), against a
    raw aio-pika publisher that sends the same messages with the same window of confirms in
    flight, both to a quorum queue.

Each side runs ``--rounds`` times, alternating, and the best round counts. Prints events/s
and the ratios. Uses TRAINBRIDGE_TEST_DATABASE_URL / TRAINBRIDGE_TEST_AMQP_URL (or the
TRAINBRIDGE_DATABASE_URL / TRAINBRIDGE_AMQP_URL defaults); creates and drops its own database
and broker names.

    .venv/bin/python bench/eventlog.py [--appends 12000] [--relay-events 20000] [--rounds 3]
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the package it measures: keep its folder off the import path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.append(str(_HERE.parent))  # the repository, for bench.support

import argparse
import asyncio
import json
import os
import time
import uuid
from datetime import UTC, datetime
from collections.abc import Awaitable, Callable

import aio_pika
import asyncpg

from bench.support import amqp_url, database_url
from eventlog import LogPosition, NewEvent, RecordedEvent, event_metadata
from eventlog.messages import to_message
from eventlog.migrate import upgrade
from eventlog.postgres import PostgresEventStore, PostgresOutbox, create_pool
from eventlog.relay import OutboxRelay
from eventlog.settings import (
    BrokerSettings,
    DatabaseSettings,
    RelaySettings,
)
from eventlog.topology import Topology

WRITERS = 8
WINDOW = 256
PAYLOAD = {"modelType": "text_single_classification", "modelRunId": "x" * 36, "n": 0}


async def timed(work: Callable[[], Awaitable[int]]) -> float:
    started = time.perf_counter()
    count = await work()
    return count / (time.perf_counter() - started)


# ---------------------------------------------------------------- (a) appends

async def raw_insert_baseline(url: str, total: int, *, explicit: bool) -> int:
    """8 connections, each inserting single rows; ``explicit`` wraps each in BEGIN/COMMIT,
    otherwise each INSERT commits on its own (one round trip, the cheapest commit)."""
    body = json.dumps(PAYLOAD)
    connections = [await asyncpg.connect(url) for _ in range(WRITERS)]

    async def writer(connection: asyncpg.Connection, count: int) -> None:
        insert = "INSERT INTO bench_raw (stream_id, data) VALUES ($1, $2::jsonb)"
        for n in range(count):
            if explicit:
                async with connection.transaction():
                    await connection.execute(insert, f"s-{n}", body)
            else:
                await connection.execute(insert, f"s-{n}", body)

    try:
        await asyncio.gather(*(writer(c, total // WRITERS) for c in connections))
    finally:
        for connection in connections:
            await connection.close()
    return total // WRITERS * WRITERS


async def store_appends(store: PostgresEventStore, total: int, round_id: str) -> int:
    async def writer(w: int, count: int) -> None:
        for n in range(count):
            await store.append(
                f"model_run-{round_id}-{w}-{n}",
                [NewEvent("TrainingRequested", PAYLOAD, event_metadata(producer="bench"))],
            )

    await asyncio.gather(*(writer(w, total // WRITERS) for w in range(WRITERS)))
    return total // WRITERS * WRITERS


# ---------------------------------------------------------------- (b) relay

async def declare_sink(url: str, topology: Topology) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            topology.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(
            topology.queue("sink"), durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(exchange, routing_key="#")


async def purge_sink(url: str, topology: Topology) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(topology.queue("sink"))
        await queue.purge()


def sample_events(total: int) -> list[RecordedEvent]:
    """Events shaped like the ones the relay publishes (same data, metadata and headers)."""
    now = datetime.now(UTC)
    return [
        RecordedEvent(
            stream_id=f"model_run-raw-{n % 2000}", stream_version=n // 2000 + 1,
            event_id=uuid.uuid4(), event_type="TrainingRequested", data=dict(PAYLOAD),
            metadata=event_metadata(producer="bench"), recorded_at=now,
            position=LogPosition(1000 + n, n + 1),
        )
        for n in range(total)
    ]


async def raw_publish_baseline(url: str, topology: Topology, events: list[RecordedEvent]) -> int:
    """The same messages as the relay sends, encoded the same way, published with the same
    window of confirms in flight: what remains of the relay's figure is its own work."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.get_exchange(topology.events_exchange)
        window = asyncio.Semaphore(WINDOW)
        tasks = []
        for n, event in enumerate(events):
            await window.acquire()
            task = asyncio.create_task(
                exchange.publish(to_message(event), routing_key=event.event_type, mandatory=True)
            )
            task.add_done_callback(lambda _: window.release())
            tasks.append(task)
            if n % 1000 == 0:
                tasks = [t for t in tasks if not t.done()]
        await asyncio.gather(*tasks)
    return len(events)


async def fill_outbox(store: PostgresEventStore, total: int, per_stream: int, tag: str) -> None:
    """Model runs progress side by side, so their events interleave in the outbox."""
    streams = total // per_stream

    async def writer(first: int) -> None:
        for _version in range(per_stream):
            for s in range(first, streams, WRITERS):
                await store.append(
                    f"model_run-{tag}-{s}",
                    [NewEvent("TrainingRequested", PAYLOAD, event_metadata(producer="bench"))],
                )

    await asyncio.gather(*(writer(w) for w in range(WRITERS)))


async def relay_drain(
    outbox: PostgresOutbox, broker: BrokerSettings, settings: RelaySettings, total: int | None
) -> int:
    """Run the relay as a service runs it, until the outbox is empty."""
    expected = await outbox.backlog()
    if total is not None and expected != total:
        raise RuntimeError(f"outbox holds {expected} events, expected {total}")
    relay = OutboxRelay(outbox, broker, settings)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    while relay.published_total < expected:  # noqa: ASYNC110 - a counter, not an event
        await asyncio.sleep(0.002)
    stop.set()
    await running
    return relay.published_total


# ---------------------------------------------------------------- main

async def main(args: argparse.Namespace) -> None:
    name = f"tb_bench_{os.getpid()}"
    url = database_url(name)
    admin = await asyncpg.connect(database_url("postgres"))
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await asyncio.to_thread(upgrade, url)
    broker = BrokerSettings(url=amqp_url(), namespace=f"bench-{uuid.uuid4().hex[:8]}")
    topology = Topology(broker.namespace)
    pool = await create_pool(DatabaseSettings(url=url, pool_size=WRITERS + 2))
    store = PostgresEventStore(pool)
    outbox = PostgresOutbox(pool)
    setup = await asyncpg.connect(url)
    await setup.execute(
        "CREATE TABLE bench_raw (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
        "stream_id text NOT NULL, data jsonb NOT NULL)"
    )
    await declare_sink(broker.url, topology)
    try:
        autocommit, explicit, appends = [], [], []
        for r in range(0 if args.skip_appends else args.rounds):
            autocommit.append(await timed(
                lambda: raw_insert_baseline(url, args.appends, explicit=False)))
            explicit.append(await timed(
                lambda: raw_insert_baseline(url, args.appends, explicit=True)))
            appends.append(await timed(lambda r=r: store_appends(store, args.appends, f"a{r}")))

        raw_publish, relay = [], []
        relay_settings = RelaySettings(
            batch_size=args.relay_batch, confirm_window=WINDOW, poll_interval=0.01,
            parallel_claims=args.parallel_claims,
        )
        await relay_drain(outbox, broker, relay_settings, None)  # phase (a)'s events, untimed
        for r in range(args.rounds):
            await purge_sink(broker.url, topology)
            events = sample_events(args.relay_events)
            raw_publish.append(await timed(
                lambda events=events: raw_publish_baseline(broker.url, topology, events)))
            await purge_sink(broker.url, topology)
            await fill_outbox(store, args.relay_events, args.per_stream, f"r{r}")
            relay.append(await timed(
                lambda: relay_drain(outbox, broker, relay_settings, args.relay_events)))
    finally:
        await pool.close()
        await setup.close()
        connection = await aio_pika.connect(broker.url)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(topology.queue("sink"))
            await channel.exchange_delete(topology.events_exchange)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

    def line(label: str, rates: list[float]) -> float:
        best = max(rates)
        rounds = ", ".join(f"{x:,.0f}" for x in rates)
        print(f"  {label:<58} {best:>9,.0f} events/s   (rounds: {rounds})")
        return best

    if appends:
        print(f"(a) appends, {WRITERS} concurrent writers, {args.appends:,} events per round")
        base_auto = line("baseline: raw asyncpg INSERT (autocommit, 1 round trip)", autocommit)
        base_explicit = line("baseline: raw asyncpg BEGIN; INSERT; COMMIT", explicit)
        ours = line("PostgresEventStore.append (event + outbox row, 1 txn)", appends)
        print(f"  ratio vs BEGIN/INSERT/COMMIT baseline: {ours / base_explicit:.2f}x"
              "  (target >= 0.80x)")
        print(f"  ratio vs autocommit INSERT baseline:   {ours / base_auto:.2f}x")
    print(f"(b) publishing to a quorum queue, window {WINDOW} confirms, "
          f"{args.relay_events:,} events per round, {args.per_stream} per stream, relay batch "
          f"{args.relay_batch} x {args.parallel_claims} claims")
    base_pub = line("baseline: raw aio-pika windowed-confirm publisher", raw_publish)
    relayed = line("OutboxRelay (claim + publish + mark published)", relay)
    print(f"  ratio vs raw publisher:                {relayed / base_pub:.2f}x  (target >= 0.80x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appends", type=int, default=12_000)
    parser.add_argument("--relay-events", type=int, default=20_000)
    parser.add_argument("--per-stream", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--relay-batch", type=int, default=RelaySettings.batch_size)
    parser.add_argument("--parallel-claims", type=int, default=RelaySettings.parallel_claims)
    parser.add_argument("--skip-appends", action="store_true", help="measure the relay only")
    asyncio.run(main(parser.parse_args()))
