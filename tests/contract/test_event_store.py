"""The event store contract. Every implementation runs this same suite: the in-memory fake
is proven to behave like PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest

from eventlog import (
    LOG_START,
    ConcurrencyError,
    EventIdConflictError,
    EventStore,
    NewEvent,
    StreamState,
    UnstorableTextError,
)
from eventlog.memory import InMemoryEventStore
from eventlog.postgres import PostgresEventStore, create_pool
from eventlog.settings import DatabaseSettings


@pytest.fixture
def memory_store() -> EventStore:
    return InMemoryEventStore()


@pytest.fixture
async def postgres_store(database_url: str) -> AsyncIterator[EventStore]:
    pool = await create_pool(DatabaseSettings(url=database_url))
    try:
        yield PostgresEventStore(pool)
    finally:
        await pool.close()


@pytest.fixture(params=["memory", "postgres"])
def store(request: pytest.FixtureRequest) -> EventStore:
    """Each contract test runs once per implementation."""
    implementation: EventStore = request.getfixturevalue(f"{request.param}_store")
    return implementation


def event(kind: str = "Happened", **data: object) -> NewEvent:
    return NewEvent(kind, dict(data), {"producer": "test"})


async def test_a_new_stream_starts_at_version_one(store: EventStore) -> None:
    result = await store.append("s-1", [event(n=1), event(n=2)], StreamState.NO_STREAM)

    assert result.stream_version == 2
    assert not result.already_stored
    stored = await store.read_stream("s-1")
    assert [(e.stream_version, e.data["n"]) for e in stored] == [(1, 1), (2, 2)]
    assert [e.position for e in stored] == list(result.positions)


async def test_no_stream_refuses_an_existing_stream(store: EventStore) -> None:
    await store.append("s-1", [event()])

    with pytest.raises(ConcurrencyError) as raised:
        await store.append("s-1", [event()], StreamState.NO_STREAM)
    assert raised.value.actual == 1


async def test_exact_expected_version_appends_after_it(store: EventStore) -> None:
    await store.append("s-1", [event(), event()])

    result = await store.append("s-1", [event(n=3)], 2)

    assert result.stream_version == 3


@pytest.mark.parametrize("expected", [0, 1, 3])
async def test_a_wrong_expected_version_raises_and_writes_nothing(
    store: EventStore, expected: int
) -> None:
    await store.append("s-1", [event(), event()])

    with pytest.raises(ConcurrencyError) as raised:
        await store.append("s-1", [event()], expected)

    assert (raised.value.expected, raised.value.actual) == (expected, 2)
    assert len(await store.read_stream("s-1")) == 2


async def test_any_appends_whatever_the_version(store: EventStore) -> None:
    await store.append("s-1", [event()], StreamState.ANY)
    result = await store.append("s-1", [event()], StreamState.ANY)

    assert result.stream_version == 2


async def test_reappending_stored_event_ids_is_an_idempotent_success(store: EventStore) -> None:
    batch = [event(n=1), event(n=2)]
    first = await store.append("s-1", batch, StreamState.NO_STREAM)

    again = await store.append("s-1", batch, StreamState.NO_STREAM)

    assert again.already_stored
    assert (again.stream_version, again.positions) == (first.stream_version, first.positions)
    assert len(await store.read_stream("s-1")) == 2


async def test_an_event_id_stored_in_another_stream_is_a_conflict(store: EventStore) -> None:
    shared = event()
    await store.append("s-1", [shared])

    with pytest.raises(EventIdConflictError):
        await store.append("s-2", [shared])


async def test_a_batch_mixing_stored_and_new_ids_is_a_conflict(store: EventStore) -> None:
    stored = event()
    await store.append("s-1", [stored])

    with pytest.raises(EventIdConflictError):
        await store.append("s-1", [stored, event()])
    assert len(await store.read_stream("s-1")) == 1


async def test_an_empty_append_is_refused(store: EventStore) -> None:
    with pytest.raises(ValueError, match="at least one event"):
        await store.append("s-1", [])


async def test_read_stream_from_a_version(store: EventStore) -> None:
    await store.append("s-1", [event(n=n) for n in range(1, 6)])

    tail = await store.read_stream("s-1", from_version=4)

    assert [e.data["n"] for e in tail] == [4, 5]
    assert await store.read_stream("unknown") == []


async def test_recorded_events_keep_type_data_metadata_and_id(store: EventStore) -> None:
    new = NewEvent("TrainingRequested", {"modelType": "x", "nested": {"a": [1, 2]}},
                   {"correlation_id": "c-1"}, uuid4())
    await store.append("s-1", [new])

    (recorded,) = await store.read_stream("s-1")

    assert recorded.event_id == new.event_id
    assert recorded.event_type == "TrainingRequested"
    assert recorded.data == {"modelType": "x", "nested": {"a": [1, 2]}}
    assert recorded.correlation_id == "c-1"
    assert recorded.recorded_at.tzinfo is not None


async def test_read_all_pages_through_the_global_log_in_order(store: EventStore) -> None:
    for n in range(7):
        await store.append(f"s-{n % 3}", [event(n=n)])

    seen: list[int] = []
    position = LOG_START
    deadline = time.monotonic() + 10
    # Rows of transactions still open anywhere on the server (another database's included)
    # are held back until those end: keep paging until all seven have been released.
    while len(seen) < 7 and time.monotonic() < deadline:
        batch = await store.read_all(position, limit=3)
        if not batch:
            await asyncio.sleep(0.05)
            continue
        assert len(batch) <= 3
        seen += [e.data["n"] for e in batch]
        position = batch[-1].position

    assert seen == list(range(7))
    positions = [e.position for e in await store.read_all(limit=100)]
    assert positions == sorted(positions)


async def test_a_unit_of_work_commits_appends_and_inbox_together(store: EventStore) -> None:
    async with store.unit_of_work() as uow:
        assert await uow.record_processed("c", "m-1", "Happened")
        await uow.append("s-1", [event()])
        assert [e.stream_version for e in await uow.read_stream("s-1")] == [1]

    assert await store.is_processed("c", "m-1")
    assert len(await store.read_stream("s-1")) == 1


async def test_a_failed_unit_of_work_leaves_no_trace(store: EventStore) -> None:
    with pytest.raises(RuntimeError):
        async with store.unit_of_work() as uow:
            await uow.record_processed("c", "m-1", "Happened")
            await uow.append("s-1", [event()])
            raise RuntimeError("handler failed")

    assert not await store.is_processed("c", "m-1")
    assert await store.read_stream("s-1") == []


async def test_the_inbox_recognises_a_message_already_processed(store: EventStore) -> None:
    async with store.unit_of_work() as uow:
        assert await uow.record_processed("c", "m-1", "Happened")

    async with store.unit_of_work() as uow:
        assert not await uow.record_processed("c", "m-1", "Happened")
        assert await uow.record_processed("other-consumer", "m-1", "Happened")


async def test_commit_listeners_fire_after_appending_commits_only(store: EventStore) -> None:
    calls: list[str] = []
    store.on_commit(lambda: calls.append("commit"))

    await store.append("s-1", [event()])
    async with store.unit_of_work() as uow:
        await uow.record_processed("c", "m-1", "Happened")
    with pytest.raises(RuntimeError):
        async with store.unit_of_work() as uow:
            await uow.append("s-1", [event()])
            raise RuntimeError

    assert calls == ["commit"]


async def test_concurrent_appends_at_one_version_let_exactly_one_win(store: EventStore) -> None:
    await store.append("s-1", [event()])

    results = await asyncio.gather(
        *(store.append("s-1", [event(n=n)], 1) for n in range(10)), return_exceptions=True
    )

    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, ConcurrencyError) for r in results if r not in winners)
    assert [e.stream_version for e in await store.read_stream("s-1")] == [1, 2]


async def test_concurrent_any_appends_all_land_gaplessly(store: EventStore) -> None:
    await asyncio.gather(*(store.append("s-1", [event(n=n)]) for n in range(20)))

    versions = [e.stream_version for e in await store.read_stream("s-1")]
    assert versions == list(range(1, 21))


async def test_a_negative_expected_version_is_refused(store: EventStore) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        await store.append("s-1", [event()], -2)


async def test_an_error_from_the_callers_block_propagates_unchanged(store: EventStore) -> None:
    with pytest.raises(FileNotFoundError):
        async with store.unit_of_work() as uow:
            await uow.append("s-1", [event()])
            raise FileNotFoundError("model.bin")

    assert await store.read_stream("s-1") == []


@pytest.mark.parametrize("text", ["nul\x00inside", "lone \ud800 surrogate", "\udfff"],
                         ids=["nul", "high-surrogate", "low-surrogate"])
@pytest.mark.parametrize("where", ["value", "key", "metadata"])
async def test_text_postgresql_refuses_is_an_unstorable_text_error_and_writes_nothing(
    store: EventStore, text: str, where: str
) -> None:
    refused = {"value": NewEvent("Happened", {"split": text}, {"producer": "test"}),
               "key": NewEvent("Happened", {"nested": {text: 1}}, {"producer": "test"}),
               "metadata": NewEvent("Happened", {}, {"producer": text})}[where]

    with pytest.raises(UnstorableTextError):
        await store.append("s-1", [event(), refused])
    with pytest.raises(UnstorableTextError):
        async with store.unit_of_work() as uow:
            await uow.append("s-1", [refused])

    assert await store.read_stream("s-1") == []
    await store.append("s-1", [event()])  # the store is fine afterwards
