"""The audit log contract, run against the in-memory twin and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from eventlog import UnstorableTextError
from eventlog.postgres import Database
from services.reporter.audit import (
    AuditEntry,
    AuditLog,
    CallContext,
    InMemoryAuditLog,
    PostgresAuditLog,
)

STARTED = datetime(2026, 1, 2, 3, 4, 5, 600_000, tzinfo=UTC)


@pytest.fixture
def memory_audit() -> AuditLog:
    return InMemoryAuditLog()


@pytest.fixture
def postgres_audit(database: Database) -> AuditLog:
    return PostgresAuditLog(database, "reporter-test")


@pytest.fixture(params=["memory", "postgres"])
def audit(request: pytest.FixtureRequest) -> AuditLog:
    """Each contract test runs once per implementation."""
    implementation: AuditLog = request.getfixturevalue(f"{request.param}_audit")
    return implementation


def entry(run: str, method: str = "ModelRun.update_status", *, call_try: int = 1,
          outcome: str = "ok", **changes: object) -> AuditEntry:
    context = CallContext(run, f"model_run-{run}", "status", run_attempt=1,
                          cause_event_id=uuid4(), delivery_key="attempt-1/status",
                          correlation_id="corr-1")
    fields: dict[str, object] = {
        "context": context, "sdk_method": method, "request": {"modelRunId": run},
        "call_try": call_try, "started_at": STARTED,
        "ended_at": STARTED + timedelta(milliseconds=250), "outcome": outcome,
        "response": {"status": "TRAINING_MODEL"}, **changes,
    }
    return AuditEntry(**fields)  # type: ignore[arg-type]


async def test_a_runs_entries_come_back_in_the_order_they_were_recorded(
    audit: AuditLog,
) -> None:
    first = entry("run-1", call_try=1, outcome="retryable_error", response=None,
                  error_type="HTTPError", error="503")
    second = entry("run-1", call_try=2, labelbox_ids={"export_task_id": "task-1"})
    await audit.record(first)
    await audit.record(entry("run-2"))
    await audit.record(second)

    assert await audit.run_entries("run-1") == [first, second]
    assert [e.context.model_run_id for e in await audit.run_entries("run-2")] == ["run-2"]


async def test_a_run_without_calls_has_no_entries(audit: AuditLog) -> None:
    assert await audit.run_entries("run-1") == []


@pytest.mark.parametrize("text", ["a\x00b", "\ud800"], ids=["nul", "surrogate"])
async def test_text_postgresql_cannot_store_is_refused_and_nothing_is_recorded(
    audit: AuditLog, text: str,
) -> None:
    with pytest.raises(UnstorableTextError):
        await audit.record(entry("run-1", request={"name": text}))

    assert await audit.run_entries("run-1") == []
