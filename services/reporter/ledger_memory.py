"""The reporter's ledger in memory, for unit tests. It passes the same contract suite as
:class:`~services.reporter.ledger.PostgresLedger` (tests/contract/test_ledger.py)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventlog import LogPosition, UnstorableTextError
from eventlog.events import LOG_START
from eventlog.text import unstorable_field
from services.reporter.audit import AuditEntry, InMemoryAuditLog, unstorable_part
from services.reporter.ledger import (
    DELIVERED,
    PARKED,
    REDRIVE_REQUESTED,
    LedgerEntry,
    ParkedDelivery,
)


@dataclass
class _Row:
    stream_id: str
    delivery_key: str
    model_run_id: str
    action: str
    state: str
    result: dict[str, Any]
    error: str | None
    updated: int


class InMemoryLedger:
    def __init__(self, audit: InMemoryAuditLog | None = None) -> None:
        """``audit``: where a recorded call's entry goes."""
        self._audit = audit
        self.rows: dict[tuple[str, str], _Row] = {}
        self._checkpoints: dict[str, LogPosition] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._clock = itertools.count()

    @asynccontextmanager
    async def run_lock(self, stream_id: str, *, wait: bool = True) -> AsyncIterator[bool]:
        lock = self._locks.setdefault(stream_id, asyncio.Lock())
        if not wait and lock.locked():
            yield False
            return
        async with lock:
            yield True

    async def entries(self, stream_id: str) -> dict[str, LedgerEntry]:
        return {r.delivery_key: LedgerEntry(r.delivery_key, r.state, r.result, r.error)
                for r in self.rows.values() if r.stream_id == stream_id}

    async def record(self, *, stream_id: str, delivery_key: str, model_run_id: str,
                     attempt: int, action: str, cause_event_id: UUID, state: str,
                     result: Mapping[str, Any], error: str | None = None,
                     call: AuditEntry | None = None) -> None:
        where = unstorable_field({"result": dict(result), "error": error})
        if where is None and call is not None:
            where = unstorable_part(call)
        if where is not None:  # as PostgreSQL refuses it, writing neither
            raise UnstorableTextError(f"PostgreSQL refused text (NUL or a lone surrogate) "
                                      f"in the ledger's {where}")
        if call is not None:
            if self._audit is None:
                raise TypeError("this ledger was built without the audit log to record "
                                "calls in")
            await self._audit.record(call)
        self.rows[(stream_id, delivery_key)] = _Row(
            stream_id, delivery_key, model_run_id, action, state, dict(result), error,
            next(self._clock))

    async def parked(self) -> list[ParkedDelivery]:
        rows = sorted((r for r in self.rows.values() if r.state != DELIVERED),
                      key=lambda r: r.updated)
        return [ParkedDelivery(r.stream_id, r.delivery_key, r.model_run_id, r.action, r.error,
                               r.state) for r in rows]

    async def request_redrive(self, model_run_id: str | None = None) -> list[str]:
        streams = set()
        for row in self.rows.values():
            if row.state == PARKED and model_run_id in (None, row.model_run_id):
                row.state, row.updated = REDRIVE_REQUESTED, next(self._clock)
                streams.add(row.stream_id)
        return sorted(streams)

    async def redrive_requested(self) -> list[str]:
        return sorted({r.stream_id for r in self.rows.values() if r.state == REDRIVE_REQUESTED})

    async def count_parked(self) -> int:
        return sum(1 for r in self.rows.values() if r.state == PARKED)

    async def checkpoint(self, name: str) -> LogPosition:
        return self._checkpoints.get(name, LOG_START)

    async def save_checkpoint(self, name: str, position: LogPosition) -> None:
        if position > self._checkpoints.get(name, LOG_START):
            self._checkpoints[name] = position
