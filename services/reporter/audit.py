"""The audit log: one append-only row per attempted Labelbox call (``labelbox_calls``).

A row is written when its call ends, whatever the outcome (a delivery's last successful call:
with the delivery's ledger row, in one statement). Requests are summarised (no API
key, no file contents: sizes, names, counts and digests)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from eventlog import UnstorableTextError
from eventlog.postgres import Database
from eventlog.text import unstorable_field
from services.reporter.delivery_keys import parse_delivery_key
from services.reporter.group_commit import GroupCommit


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


def unstorable_part(entry: AuditEntry) -> str | None:
    """Where the entry holds text PostgreSQL would refuse (``request.name``...), if it does."""
    return unstorable_field({"request": dict(entry.request), "error": entry.error,
                             "response": dict(entry.response or {}),
                             "labelbox_ids": dict(entry.labelbox_ids)})


class AuditLog(Protocol):
    async def record(self, entry: AuditEntry) -> None:
        """Append the entry (``UnstorableTextError`` for text PostgreSQL refuses)."""
        ...

    async def run_entries(self, model_run_id: str) -> list[AuditEntry]:
        """The run's entries in the order they were recorded."""
        ...


AUDIT_COLUMNS = (
    "model_run_id, stream_id, cause_event_id, delivery_key, action, sdk_method, request, "
    "response, call_try, started_at, ended_at, duration_ms, outcome, error_type, error, "
    "import_id, export_task_id, correlation_id, reporter_id, run_attempt")
"""The columns of an audit row, in the order of :meth:`PostgresAuditLog.row`."""


def audit_values(first: int) -> str:
    """``VALUES`` placeholders for one audit row whose first argument is ``$<first>``."""
    return "VALUES (" + ", ".join(f"${n}" for n in range(first, first + 20)) + ")"


_INSERT = f"INSERT INTO labelbox_calls ({AUDIT_COLUMNS}) {audit_values(1)}"

_ENTRIES = """
SELECT model_run_id, stream_id, cause_event_id, delivery_key, action, sdk_method, request,
       response, call_try, run_attempt, started_at, ended_at, outcome, error_type, error,
       import_id, export_task_id, correlation_id
FROM labelbox_calls WHERE model_run_id = $1 ORDER BY call_id
"""


class PostgresAuditLog:
    def __init__(self, database: Database, reporter_id: str, *,
                 writes: GroupCommit | None = None) -> None:
        """``writes``: the group commit its rows go through (shared with the ledger)."""
        self._database = database
        self._reporter_id = reporter_id
        self.writes = writes or GroupCommit(database)

    def row(self, entry: AuditEntry) -> tuple[Any, ...]:
        """The entry's audit row, in the order of :data:`AUDIT_COLUMNS`."""
        c = entry.context
        return (
            c.model_run_id, c.stream_id, c.cause_event_id, c.delivery_key, c.action,
            entry.sdk_method, dict(entry.request),
            dict(entry.response) if entry.response is not None else None,
            entry.call_try, entry.started_at, entry.ended_at, entry.duration_ms, entry.outcome,
            entry.error_type, entry.error, entry.labelbox_ids.get("import_id"),
            entry.labelbox_ids.get("export_task_id"), c.correlation_id, self._reporter_id,
            c.run_attempt,
        )

    async def record(self, entry: AuditEntry) -> None:
        await self.writes.execute(_INSERT, self.row(entry))

    async def run_entries(self, model_run_id: str) -> list[AuditEntry]:
        async with self._database.connection() as connection:
            rows = await connection.fetch(_ENTRIES, model_run_id)
        return [AuditEntry(
            CallContext(r["model_run_id"], r["stream_id"], r["action"], r["run_attempt"],
                        r["cause_event_id"], r["delivery_key"], r["correlation_id"]),
            r["sdk_method"], r["request"], r["call_try"], r["started_at"], r["ended_at"],
            r["outcome"], r["response"], r["error_type"], r["error"],
            {k: r[k] for k in ("import_id", "export_task_id") if r[k] is not None},
        ) for r in rows]


class InMemoryAuditLog:
    """For unit tests: keeps the entries it was given."""

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    async def record(self, entry: AuditEntry) -> None:
        where = unstorable_part(entry)
        if where is not None:  # as PostgreSQL refuses it
            raise UnstorableTextError(f"PostgreSQL refused text (NUL or a lone surrogate) "
                                      f"in the audit log's {where}")
        self.entries.append(entry)

    async def run_entries(self, model_run_id: str) -> list[AuditEntry]:
        return [e for e in self.entries if e.context.model_run_id == model_run_id]
