"""The audit log: one append-only row per attempted Labelbox call (``labelbox_calls``).

A row is written when its call ends, whatever the outcome. Requests are summarised (no API
key, no file contents: sizes, names, counts and digests)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import asyncpg

from eventlog.postgres import ChainedTable, translated_errors
from services.reporter.delivery_keys import parse_delivery_key


@dataclass(frozen=True)
class CallContext:
    """Why a call is made: for which run, delivery and event."""

    model_run_id: str
    stream_id: str
    action: str
    run_attempt: int
    """The model run's attempt the call is made for (a call's own tries are ``call_try``)."""
    cause_event_id: UUID | None = None
    delivery_key: str | None = None
    correlation_id: str | None = None
    acknowledges: bool = False
    """Part of a run's acknowledgement: made on the acknowledgement threads."""

    def __post_init__(self) -> None:
        # As the database checks it (migration 0009): the attempt is the delivery key's.
        if (self.delivery_key is not None
                and parse_delivery_key(self.delivery_key).run_attempt != self.run_attempt):
            raise ValueError(f"run attempt {self.run_attempt} is not {self.delivery_key}'s")


@dataclass(frozen=True)
class AuditEntry:
    context: CallContext
    sdk_method: str
    request: Mapping[str, Any]
    call_try: int
    """1, then one more each time the call is repeated after a transient failure."""
    started_at: datetime
    ended_at: datetime
    outcome: str
    response: Mapping[str, Any] | None = None
    error_type: str | None = None
    error: str | None = None
    labelbox_ids: Mapping[str, str] = field(default_factory=dict)
    """``import_id`` and/or ``export_task_id`` when the call involved one."""

    @property
    def duration_ms(self) -> float:
        return (self.ended_at - self.started_at).total_seconds() * 1000


class AuditLog(Protocol):
    async def record(self, entry: AuditEntry) -> None: ...


_INSERT = """
INSERT INTO labelbox_calls (
    model_run_id, stream_id, cause_event_id, delivery_key, action, sdk_method, request,
    response, call_try, started_at, ended_at, duration_ms, outcome, error_type, error,
    import_id, export_task_id, correlation_id, reporter_id, run_attempt)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
        $20)
"""


AUDIT_CHAIN = ChainedTable(
    "labelbox_calls", "model_run_id", "chain_seq", "call_id",
    scope="$1::text IS NULL OR t.model_run_id IN "
          "(SELECT s.model_run_id FROM labelbox_calls s WHERE s.stream_id = $1)",
)
"""The audit log's hash chains, one per model run (migration 0006): ``chain_seq`` numbers a
run's rows 1, 2, 3... and each row's ``chain_hash`` covers its content and the hash of the
run's previous row. Set by a trigger; ``trainbridge verify`` checks them. ``$1`` is a stream
id: the chains of the model runs with calls for that stream."""


class PostgresAuditLog:
    def __init__(self, pool: asyncpg.Pool, reporter_id: str) -> None:
        self._pool = pool
        self._reporter_id = reporter_id

    async def record(self, entry: AuditEntry) -> None:
        c = entry.context
        args = (
            c.model_run_id, c.stream_id, c.cause_event_id, c.delivery_key, c.action,
            entry.sdk_method, dict(entry.request),
            dict(entry.response) if entry.response is not None else None,
            entry.call_try, entry.started_at, entry.ended_at, entry.duration_ms, entry.outcome,
            entry.error_type, entry.error, entry.labelbox_ids.get("import_id"),
            entry.labelbox_ids.get("export_task_id"), c.correlation_id, self._reporter_id,
            c.run_attempt,
        )
        async with translated_errors(self._pool), self._pool.acquire() as connection:
            await connection.execute(_INSERT, *args)


class InMemoryAuditLog:
    """For unit tests: keeps the entries it was given."""

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    async def record(self, entry: AuditEntry) -> None:
        self.entries.append(entry)
