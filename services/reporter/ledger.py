"""The reporter's ledger (``reporter_deliveries``): which deliveries of a run are done, and
which wait for an operator. Also the per-run lock that serialises reconciliation of one
model run across reporter replicas, and the sweep's checkpoint in the global log."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from eventlog import LogPosition
from eventlog.events import LOG_START
from eventlog.postgres import translated_errors

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

_REDRIVE = """
UPDATE reporter_deliveries SET state = 'redrive_requested', redrives = redrives + 1,
                               updated_at = now()
WHERE state = 'parked' AND ($1::text IS NULL OR model_run_id = $1)
RETURNING stream_id
"""


class Ledger:
    def __init__(self, pool: asyncpg.Pool, *, locks: asyncpg.Pool | None = None) -> None:
        """``locks``: where run locks hold their connections, one per run being reconciled
        (default ``pool``); kept apart so short statements never wait behind them."""
        self._pool = pool
        self._locks = locks or pool

    @asynccontextmanager
    async def run_lock(self, stream_id: str, *, wait: bool = True) -> AsyncIterator[bool]:
        """Hold the run's lock (a session advisory lock on a connection of its own) for the
        block. Other replicas wait for it; it dies with the session if this process does.
        With ``wait=False`` the block runs at once and gets ``False`` if another holds it.
        The pool keeps session state (no reset query), so a connection whose unlock is in
        doubt is closed, never handed back still holding the lock."""
        key = (_LOCK_CLASS, _lock_key(stream_id))
        async with translated_errors(self._locks):
            connection = await self._locks.acquire()
        try:
            try:
                async with translated_errors(self._locks):
                    if wait:
                        await connection.execute("SELECT pg_advisory_lock($1, $2)", *key)
                        locked = True
                    else:
                        locked = await connection.fetchval(
                            "SELECT pg_try_advisory_lock($1, $2)", *key)
            except BaseException:
                connection.terminate()  # cancelled while waiting: the lock may be ours
                raise
            if not locked:
                yield False
                return
            try:
                yield True
            finally:
                try:
                    await connection.execute("SELECT pg_advisory_unlock($1, $2)", *key)
                except BaseException:
                    connection.terminate()
                    raise
        finally:
            await self._locks.release(connection)

    async def entries(self, stream_id: str) -> dict[str, LedgerEntry]:
        async with translated_errors(self._pool), self._pool.acquire() as connection:
            rows = await connection.fetch(
                "SELECT delivery_key, state, result, error FROM reporter_deliveries "
                "WHERE stream_id = $1", stream_id)
        return {r["delivery_key"]: LedgerEntry(r["delivery_key"], r["state"], r["result"],
                                               r["error"]) for r in rows}

    async def record(self, *, stream_id: str, delivery_key: str, model_run_id: str,
                     attempt: int, action: str, cause_event_id: UUID, state: str,
                     result: Mapping[str, Any], error: str | None = None) -> None:
        async with translated_errors(self._pool), self._pool.acquire() as connection:
            await connection.execute(_RECORD, stream_id, delivery_key, model_run_id, attempt,
                                     action, cause_event_id, state, dict(result), error)

    async def parked(self) -> list[ParkedDelivery]:
        async with translated_errors(self._pool), self._pool.acquire() as connection:
            rows = await connection.fetch(
                "SELECT stream_id, delivery_key, model_run_id, action, error, state "
                "FROM reporter_deliveries WHERE state <> 'delivered' ORDER BY updated_at")
        return [ParkedDelivery(**dict(r)) for r in rows]

    async def request_redrive(self, model_run_id: str | None = None) -> list[str]:
        """Mark parked deliveries (of one run, or all) for another try; returns their
        streams. The reporter's sweep picks them up."""
        async with translated_errors(self._pool), self._pool.acquire() as connection:
            rows = await connection.fetch(_REDRIVE, model_run_id)
        return sorted({r["stream_id"] for r in rows})

    async def redrive_requested(self) -> list[str]:
        async with translated_errors(self._pool), self._pool.acquire() as connection:
            rows = await connection.fetch(
                "SELECT DISTINCT stream_id FROM reporter_deliveries "
                "WHERE state = 'redrive_requested'")
        return [r["stream_id"] for r in rows]

    async def count_parked(self) -> int:
        async with translated_errors(self._pool), self._pool.acquire() as connection:
            count: int = await connection.fetchval(
                "SELECT count(*) FROM reporter_deliveries WHERE state = 'parked'")
        return count

    async def checkpoint(self, name: str) -> LogPosition:
        async with translated_errors(self._pool), self._pool.acquire() as connection:
            row = await connection.fetchrow(
                "SELECT transaction_id, global_position FROM reporter_checkpoints "
                "WHERE name = $1", name)
        return LogPosition(row[0], row[1]) if row else LOG_START

    async def save_checkpoint(self, name: str, position: LogPosition) -> None:
        async with translated_errors(self._pool), self._pool.acquire() as connection:
            await connection.execute(
                "INSERT INTO reporter_checkpoints (name, transaction_id, global_position) "
                "VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET "
                "transaction_id = EXCLUDED.transaction_id, "
                "global_position = EXCLUDED.global_position, updated_at = now() "
                "WHERE (reporter_checkpoints.transaction_id, reporter_checkpoints.global_position)"
                " < (EXCLUDED.transaction_id, EXCLUDED.global_position)",
                name, position.transaction_id, position.global_position)
