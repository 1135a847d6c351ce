"""The audit queries in docs/operations.md run, and answer, against a real event log."""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg

from eventlog import NewEvent, event_metadata
from eventlog.postgres import PostgresEventStore

OPERATIONS = Path(__file__).parents[2] / "docs" / "operations.md"


def documented_queries() -> list[str]:
    blocks = re.findall(r"```sql\n(.*?)```", OPERATIONS.read_text(), re.S)
    statements = [s.strip() for block in blocks for s in block.split(";")]
    return [s for s in statements if s and not all(
        line.startswith("--") for line in s.splitlines()
    )]


async def test_every_documented_audit_query_runs_and_finds_the_run(
    store: PostgresEventStore, sql: asyncpg.Connection,
) -> None:
    await store.append("model_run-run-1", [NewEvent(
        "TrainingRequested",
        {"modelRunId": "run-1", "modelType": "bounding_box", "attempt": 1,
         "receivedAt": "2026-11-26T12:00:00+00:00", "remoteAddress": "203.0.113.7",
         "secretIndex": 0},
        event_metadata(producer="ingest", correlation_id="c-1"),
    )])
    queries = documented_queries()
    assert len(queries) >= 4

    results = [await sql.fetch(q.replace("<modelRunId>", "run-1")) for q in queries]

    assert results[0][0]["event_type"] == "TrainingRequested"  # the run's history
    assert any(r and r[0].get("model_type") == "bounding_box" for r in results if r)
