"""The reporter's ledger contract, run against the in-memory twin and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from eventlog import LOG_START, LogPosition, UnstorableTextError
from eventlog.postgres import Database
from services.reporter.audit import (
    AuditEntry,
    AuditLog,
    CallContext,
    InMemoryAuditLog,
    PostgresAuditLog,
)
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
def memory_audit() -> AuditLog:
    return InMemoryAuditLog()


@pytest.fixture
def postgres_audit(database: Database) -> AuditLog:
    return PostgresAuditLog(database, "reporter-test")


@pytest.fixture
def memory_ledger(memory_audit: InMemoryAuditLog) -> Ledger:
    return InMemoryLedger(memory_audit)


@pytest.fixture
def postgres_ledger(database: Database, postgres_audit: PostgresAuditLog) -> Ledger:
    return PostgresLedger(database, audit=postgres_audit)


@pytest.fixture(params=["memory", "postgres"])
def implementation(request: pytest.FixtureRequest) -> str:
    """Each contract test runs once per implementation."""
    return str(request.param)


@pytest.fixture
def ledger(request: pytest.FixtureRequest, implementation: str) -> Ledger:
    found: Ledger = request.getfixturevalue(f"{implementation}_ledger")
    return found


@pytest.fixture
def audit(request: pytest.FixtureRequest, implementation: str) -> AuditLog:
    """The audit log the ledger writes a recorded call to."""
    found: AuditLog = request.getfixturevalue(f"{implementation}_audit")
    return found


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


def last_call(run: str, key: str, **changes: object) -> AuditEntry:
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    fields: dict[str, object] = {
        "context": CallContext(run, f"model_run-{run}", "status", run_attempt=1,
                               cause_event_id=uuid4(), delivery_key=key),
        "sdk_method": "ModelRun.update_status", "request": {"status": "COMPLETE"},
        "call_try": 1, "started_at": started, "ended_at": started + timedelta(seconds=1),
        "outcome": "ok", **changes}
    return AuditEntry(**fields)  # type: ignore[arg-type]


async def test_a_delivery_recorded_with_its_last_call_appends_that_calls_audit_row(
    ledger: Ledger, audit: AuditLog,
) -> None:
    first = last_call("run-1", "attempt-1/status/COMPLETE", outcome="retryable_error",
                      error_type="HTTPError", error="503")
    await audit.record(first)
    call = last_call("run-1", "attempt-1/status/COMPLETE", call_try=2)

    await ledger.record(stream_id="model_run-run-1", delivery_key="attempt-1/status/COMPLETE",
                        model_run_id="run-1", attempt=1, action="status",
                        cause_event_id=uuid4(), state=DELIVERED, result={"status": "COMPLETE"},
                        call=call)

    assert [(e.call_try, e.outcome, e.request) for e in await audit.run_entries("run-1")] == [
        (1, "retryable_error", {"status": "COMPLETE"}), (2, "ok", {"status": "COMPLETE"})]
    assert (await ledger.entries("model_run-run-1"))["attempt-1/status/COMPLETE"].state \
        == DELIVERED


async def test_a_delivery_and_its_last_call_are_both_refused_if_either_cannot_be_stored(
    ledger: Ledger, audit: AuditLog,
) -> None:
    for result, call in [({"status": "bad \x00"}, last_call("run-1", "attempt-1/status")),
                         ({}, last_call("run-1", "attempt-1/status", request={"x": "\x00"}))]:
        with pytest.raises(UnstorableTextError):
            await ledger.record(stream_id="model_run-run-1", delivery_key="attempt-1/status",
                                model_run_id="run-1", attempt=1, action="status",
                                cause_event_id=uuid4(), state=DELIVERED, result=result,
                                call=call)

    assert await ledger.entries("model_run-run-1") == {}
    assert await audit.run_entries("run-1") == []


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
