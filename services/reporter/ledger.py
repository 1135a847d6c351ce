"""The reporter's ledger (``reporter_deliveries``): which deliveries of a run are done, and
which wait for an operator. Also the per-run lock that serialises reconciliation of one
model run across reporter replicas, and the sweep's checkpoint in the global log."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from eventlog import LogPosition
from eventlog.events import LOG_START
from eventlog.postgres import Database
from services.reporter.audit import AUDIT_COLUMNS, AuditEntry, PostgresAuditLog, audit_values
from services.reporter.group_commit import GroupCommit

logger = logging.getLogger(__name__)

DELIVERED, PARKED, REDRIVE_REQUESTED = "delivered", "parked", "redrive_requested"

# Advisory lock keys are one bigint; this class id keeps ours apart from other users'.
_LOCK_CLASS = 0x7B_0001


@dataclass(frozen=True)
class LedgerEntry:
    delivery_key: str
    state: str
    result: dict[str, Any]
    error: str | None


@dataclass(frozen=True)
class ParkedDelivery:
    stream_id: str
    delivery_key: str
    model_run_id: str
    action: str
    error: str | None
    state: str


class Ledger(Protocol):
    """What the reporter has delivered of each run, and the per-run lock."""

    def run_lock(self, stream_id: str, *, wait: bool = True
                 ) -> AbstractAsyncContextManager[bool]:
        """Hold the run's lock for the block; other reporters wait for it. With
        ``wait=False`` the block runs at once and gets ``False`` if another holds it."""
        ...

    async def entries(self, stream_id: str) -> dict[str, LedgerEntry]: ...

    async def record(self, *, stream_id: str, delivery_key: str, model_run_id: str,
                     attempt: int, action: str, cause_event_id: UUID, state: str,
                     result: Mapping[str, Any], error: str | None = None,
                     call: AuditEntry | None = None) -> None:
        """Record a delivery's outcome (again: the last one counts). With ``call``, the audit
        row of the delivery's last call is appended in the same transaction: both are
        written, or neither (``TypeError`` if the ledger was built without its audit log)."""
        ...

    async def parked(self) -> list[ParkedDelivery]:
        """Deliveries not delivered (parked, or waiting for their redrive), oldest first."""
        ...

    async def request_redrive(self, model_run_id: str | None = None) -> list[str]:
        """Mark parked deliveries (of one run, or all) for another try; returns their
        streams. The reporter's sweep picks them up."""
        ...

    async def redrive_requested(self) -> list[str]: ...

    async def count_parked(self) -> int: ...

    async def checkpoint(self, name: str) -> LogPosition:
        """The sweep's position in the global log (``LOG_START`` at first)."""
        ...

    async def save_checkpoint(self, name: str, position: LogPosition) -> None:
        """Move the checkpoint forward (never back)."""
        ...


def _lock_key(stream_id: str) -> int:
    digest = hashlib.blake2b(stream_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


# ``calls``: the audited Labelbox calls made for the delivery so far (what replay recounts).
_RECORD = """
INSERT INTO reporter_deliveries (stream_id, delivery_key, model_run_id, attempt, action,
                                 cause_event_id, state, result, error, calls)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
        (SELECT count(*) FROM labelbox_calls
         WHERE model_run_id = $3 AND stream_id = $1 AND delivery_key = $2))
ON CONFLICT (stream_id, delivery_key) DO UPDATE
SET state = EXCLUDED.state, result = EXCLUDED.result, error = EXCLUDED.error,
    calls = EXCLUDED.calls, updated_at = now()
"""

# The same with the audit row of the delivery's last call, in one statement (one round trip,
# one transaction). The count cannot see the row its own statement inserts: hence the + 1.
_RECORD_WITH_CALL = f"""
WITH call AS (INSERT INTO labelbox_calls ({AUDIT_COLUMNS}) {audit_values(10)})
""" + _RECORD.replace("WHERE model_run_id = $3 AND stream_id = $1 AND delivery_key = $2)",
                      "WHERE model_run_id = $3 AND stream_id = $1 AND delivery_key = $2) + 1")
assert _RECORD_WITH_CALL.count("+ 1") == 1

_REDRIVE = """
UPDATE reporter_deliveries SET state = 'redrive_requested', redrives = redrives + 1,
                               updated_at = now()
WHERE state = 'parked' AND ($1::text IS NULL OR model_run_id = $1)
RETURNING stream_id
"""


class PostgresLedger:
    def __init__(self, database: Database, *, locks: Database | None = None,
                 audit: PostgresAuditLog | None = None) -> None:
        """``locks``: where run locks hold their connections, one per run being reconciled
        (default ``database``); kept apart so short statements never wait behind them.
        ``audit``: the audit log (in the same database) a recorded call is appended to."""
        self._database = database
        self._locks = locks or database
        self._audit = audit
        self._writes = audit.writes if audit is not None else GroupCommit(database)

    def run_lock(self, stream_id: str, *, wait: bool = True
                 ) -> AbstractAsyncContextManager[bool]:
        """A session advisory lock on a connection of its own: it dies with the session if
        this process does."""
        return self._locks.session_lock((_LOCK_CLASS, _lock_key(stream_id)), wait=wait)

    async def entries(self, stream_id: str) -> dict[str, LedgerEntry]:
        async with self._database.connection() as connection:
            rows = await connection.fetch(
                "SELECT delivery_key, state, result, error FROM reporter_deliveries "
                "WHERE stream_id = $1", stream_id)
        return {r["delivery_key"]: LedgerEntry(r["delivery_key"], r["state"], r["result"],
                                               r["error"]) for r in rows}

    async def record(self, *, stream_id: str, delivery_key: str, model_run_id: str,
                     attempt: int, action: str, cause_event_id: UUID, state: str,
                     result: Mapping[str, Any], error: str | None = None,
                     call: AuditEntry | None = None) -> None:
        args = (stream_id, delivery_key, model_run_id, attempt, action, cause_event_id, state,
                dict(result), error)
        if call is not None and self._audit is None:
            raise TypeError("this ledger was built without the audit log to record calls in")
        if call is None or self._audit is None:
            await self._writes.execute(_RECORD, args)
        else:  # through the audit log's group commit: rows of other runs may go with it
            await self._audit.writes.execute(_RECORD_WITH_CALL, (*args, *self._audit.row(call)))

    async def parked(self) -> list[ParkedDelivery]:
        async with self._database.connection() as connection:
            rows = await connection.fetch(
                "SELECT stream_id, delivery_key, model_run_id, action, error, state "
                "FROM reporter_deliveries WHERE state <> 'delivered' ORDER BY updated_at")
        return [ParkedDelivery(**dict(r)) for r in rows]

    async def request_redrive(self, model_run_id: str | None = None) -> list[str]:
        async with self._database.connection() as connection:
            rows = await connection.fetch(_REDRIVE, model_run_id)
        return sorted({r["stream_id"] for r in rows})

    async def redrive_requested(self) -> list[str]:
        async with self._database.connection() as connection:
            rows = await connection.fetch(
                "SELECT DISTINCT stream_id FROM reporter_deliveries "
                "WHERE state = 'redrive_requested'")
        return [r["stream_id"] for r in rows]

    async def count_parked(self) -> int:
        async with self._database.connection() as connection:
            count: int = await connection.fetchval(
                "SELECT count(*) FROM reporter_deliveries WHERE state = 'parked'")
        return count

    async def checkpoint(self, name: str) -> LogPosition:
        async with self._database.connection() as connection:
            row = await connection.fetchrow(
                "SELECT transaction_id, global_position FROM reporter_checkpoints "
                "WHERE name = $1", name)
        return LogPosition(row[0], row[1]) if row else LOG_START

    async def save_checkpoint(self, name: str, position: LogPosition) -> None:
        async with self._database.connection() as connection:
            await connection.execute(
                "INSERT INTO reporter_checkpoints (name, transaction_id, global_position) "
                "VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET "
                "transaction_id = EXCLUDED.transaction_id, "
                "global_position = EXCLUDED.global_position, updated_at = now() "
                "WHERE (reporter_checkpoints.transaction_id, reporter_checkpoints.global_position)"
                " < (EXCLUDED.transaction_id, EXCLUDED.global_position)",
                name, position.transaction_id, position.global_position)
