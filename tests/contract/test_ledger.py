"""The reporter's ledger contract, run against the in-memory twin and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from uuid import uuid4

import pytest

from eventlog import LOG_START, LogPosition, UnstorableTextError
from eventlog.postgres import Database
from services.reporter.ledger import (
    DELIVERED,
    PARKED,
    REDRIVE_REQUESTED,
    Ledger,
    LedgerEntry,
    PostgresLedger,
)
from services.reporter.ledger_memory import InMemoryLedger


@pytest.fixture
def memory_ledger() -> Ledger:
    return InMemoryLedger()


@pytest.fixture
def postgres_ledger(database: Database) -> Ledger:
    return PostgresLedger(database)


@pytest.fixture(params=["memory", "postgres"])
def ledger(request: pytest.FixtureRequest) -> Ledger:
    """Each contract test runs once per implementation."""
    implementation: Ledger = request.getfixturevalue(f"{request.param}_ledger")
    return implementation


async def record(ledger: Ledger, run: str, key: str, state: str, *,
                 error: str | None = None, **result: object) -> None:
    await ledger.record(stream_id=f"model_run-{run}", delivery_key=key, model_run_id=run,
                        attempt=1, action=key.rsplit("/", 1)[-1], cause_event_id=uuid4(),
                        state=state, result=result, error=error)


async def test_recorded_deliveries_are_the_runs_entries(ledger: Ledger) -> None:
    await record(ledger, "run-1", "attempt-1/status", DELIVERED, status="TRAINING_MODEL")
    await record(ledger, "run-2", "attempt-1/status", DELIVERED)

    assert await ledger.entries("model_run-1") == {}
    assert await ledger.entries("model_run-run-1") == {
        "attempt-1/status": LedgerEntry("attempt-1/status", DELIVERED,
                                        {"status": "TRAINING_MODEL"}, None)}


async def test_recording_a_delivery_again_keeps_the_last_outcome(ledger: Ledger) -> None:
    await record(ledger, "run-1", "attempt-1/export", PARKED, error="Labelbox said no")
    await record(ledger, "run-1", "attempt-1/export", DELIVERED, exportTaskId="t-1")

    [entry] = (await ledger.entries("model_run-run-1")).values()
    assert (entry.state, entry.result, entry.error) == (DELIVERED, {"exportTaskId": "t-1"}, None)
    assert await ledger.count_parked() == 0


async def test_parked_deliveries_are_listed_oldest_first_until_delivered(
    ledger: Ledger,
) -> None:
    await record(ledger, "run-1", "attempt-1/export", PARKED, error="first")
    await record(ledger, "run-2", "attempt-1/status", DELIVERED)
    await record(ledger, "run-3", "attempt-1/predictions", PARKED, error="second")

    parked = await ledger.parked()

    assert [(p.model_run_id, p.delivery_key, p.error, p.state) for p in parked] == [
        ("run-1", "attempt-1/export", "first", PARKED),
        ("run-3", "attempt-1/predictions", "second", PARKED)]
    assert parked[0].stream_id == "model_run-run-1" and parked[0].action == "export"
    assert await ledger.count_parked() == 2


async def test_a_redrive_marks_the_parked_deliveries_of_one_run_or_all(
    ledger: Ledger,
) -> None:
    await record(ledger, "run-1", "attempt-1/export", PARKED)
    await record(ledger, "run-2", "attempt-1/export", PARKED)
    await record(ledger, "run-3", "attempt-1/export", DELIVERED)

    assert await ledger.request_redrive("run-1") == ["model_run-run-1"]
    assert await ledger.redrive_requested() == ["model_run-run-1"]
    assert await ledger.count_parked() == 1
    assert {(p.model_run_id, p.state) for p in await ledger.parked()} == {
        ("run-1", REDRIVE_REQUESTED), ("run-2", PARKED)}

    assert await ledger.request_redrive() == ["model_run-run-2"]
    assert sorted(await ledger.redrive_requested()) == ["model_run-run-1", "model_run-run-2"]
    assert await ledger.count_parked() == 0


async def test_text_postgresql_cannot_store_is_refused(ledger: Ledger) -> None:
    with pytest.raises(UnstorableTextError):
        await record(ledger, "run-1", "attempt-1/export", PARKED, error="bad \x00 byte")

    assert await ledger.entries("model_run-run-1") == {}


async def test_the_checkpoint_starts_at_the_log_start_and_only_moves_forward(
    ledger: Ledger,
) -> None:
    assert await ledger.checkpoint("sweep") == LOG_START

    await ledger.save_checkpoint("sweep", LogPosition(10, 5))
    await ledger.save_checkpoint("sweep", LogPosition(9, 7))

    assert await ledger.checkpoint("sweep") == LogPosition(10, 5)
    assert await ledger.checkpoint("other") == LOG_START


async def test_a_runs_lock_is_held_by_one_holder_at_a_time(ledger: Ledger) -> None:
    async with ledger.run_lock("model_run-run-1") as locked:
        assert locked
        async with ledger.run_lock("model_run-run-1", wait=False) as second:
            assert not second
        async with ledger.run_lock("model_run-run-2", wait=False) as other_run:
            assert other_run

    async with ledger.run_lock("model_run-run-1", wait=False) as after:
        assert after


async def test_a_waiting_lock_is_granted_when_the_holder_leaves(ledger: Ledger) -> None:
    order: list[str] = []

    async def holder(release: asyncio.Event) -> None:
        async with ledger.run_lock("model_run-run-1"):
            order.append("first holds")
            await release.wait()
            order.append("first leaves")

    async def waiter() -> None:
        async with ledger.run_lock("model_run-run-1"):
            order.append("second holds")

    release = asyncio.Event()
    first = asyncio.create_task(holder(release))
    await until(lambda: order == ["first holds"])
    second = asyncio.create_task(waiter())
    await asyncio.sleep(0.2)
    assert order == ["first holds"]
    release.set()
    await asyncio.wait_for(asyncio.gather(first, second), 10)

    assert order == ["first holds", "first leaves", "second holds"]


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")
