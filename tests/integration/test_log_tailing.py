"""A reader tailing the global log never skips an event that commits late."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from uuid import UUID

import pytest

from eventlog import LOG_START, LogPosition, NewEvent, RecordedEvent
from eventlog.postgres import PostgresEventStore, create_pool
from eventlog.settings import DatabaseSettings


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[PostgresEventStore]:
    pool = await create_pool(DatabaseSettings(url=database_url, pool_size=24))
    try:
        yield PostgresEventStore(pool)
    finally:
        await pool.close()


async def test_an_event_committed_late_is_held_back_then_delivered_in_order(
    store: PostgresEventStore,
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow_writer() -> None:
        async with store.unit_of_work() as uow:
            await uow.append("slow", [NewEvent("E", {"who": "slow"})])
            started.set()
            await release.wait()

    slow = asyncio.create_task(slow_writer())
    try:
        await started.wait()
        await store.append("fast", [NewEvent("E", {"who": "fast"})])

        # The fast event has a higher global_position but must not be handed out while an
        # older transaction could still commit below it.
        assert await store.read_all(LOG_START) == []
    finally:
        release.set()
        await slow
    events = await store.read_all(LOG_START)
    assert [e.data["who"] for e in events] == ["slow", "fast"]
    assert events[0].position.global_position < events[1].position.global_position


async def test_a_tailing_reader_sees_every_event_exactly_once_under_concurrent_writers(
    store: PostgresEventStore,
) -> None:
    writers, appends_per_writer = 16, 25
    rng = random.Random(20261126)
    delays = [
        [rng.uniform(0, 0.02) for _ in range(appends_per_writer)] for _ in range(writers)
    ]
    written: set[UUID] = set()
    done = asyncio.Event()

    async def writer(w: int) -> None:
        for n, delay in enumerate(delays[w]):
            batch = [NewEvent("E", {"w": w, "n": n, "k": k}) for k in range(1 + n % 3)]
            async with store.unit_of_work() as uow:
                await uow.append(f"stream-{w}-{n % 4}", batch)
                await asyncio.sleep(delay)  # commit late, out of sequence order
            written.update(e.event_id for e in batch)

    seen: list[RecordedEvent] = []

    async def tail() -> None:
        position = LOG_START
        while True:
            finished = done.is_set()
            batch = await store.read_all(position, limit=37)
            seen.extend(batch)
            if batch:
                position = batch[-1].position
            elif finished and len(seen) >= len(written):
                return
            else:
                # Not done at the first empty read after the writers: any transaction open in
                # the cluster (another database's, on a shared server) holds every event
                # committed after it began back until it ends.
                await asyncio.sleep(0.002)

    reader = asyncio.create_task(tail())
    await asyncio.gather(*(writer(w) for w in range(writers)))
    done.set()
    with contextlib.suppress(TimeoutError):  # judged below by what it saw by then
        await asyncio.wait_for(reader, timeout=30)

    seen_ids = [e.event_id for e in seen]
    assert len(seen_ids) == len(set(seen_ids)), "an event was delivered twice"
    assert set(seen_ids) == written, "an event was skipped"
    positions: list[LogPosition] = [e.position for e in seen]
    assert positions == sorted(positions)
    # The order the tailing reader saw is the log's one order: a fresh reader agrees.
    assert [e.event_id for e in await store.read_all(LOG_START, limit=10_000)] == seen_ids
    # Each stream's events arrive in stream order.
    last_version: dict[str, int] = {}
    for e in seen:
        assert e.stream_version == last_version.get(e.stream_id, 0) + 1
        last_version[e.stream_id] = e.stream_version
