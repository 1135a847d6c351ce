"""The transactional outbox on PostgreSQL: each appended event's row, claimed by the relays
stream by stream, marked published or deferred for a retry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from eventlog.events import RecordedEvent
from eventlog.postgres.errors import translated_errors
from eventlog.postgres.pool import retrying
from eventlog.postgres.store import EVENT_COLUMNS, recorded_event

_OUTBOX_LOCK_NAMESPACE = 0x7462  # first key of the per-stream advisory locks relays take

# A relay claims whole streams: a transaction-scoped advisory lock per stream (so two
# relays never publish one stream's events out of order) plus row locks (so a row that
# another relay published meanwhile is re-checked and skipped). An event waiting for a
# retry holds back the later events of its stream.
_CLAIM = f"""
WITH candidates AS MATERIALIZED (
    SELECT o.id, o.stream_id FROM outbox o
    WHERE o.published_at IS NULL AND o.available_at <= now()
      AND NOT EXISTS (
          SELECT 1 FROM outbox b
          WHERE b.stream_id = o.stream_id AND b.published_at IS NULL
            AND b.id < o.id AND b.available_at > now())
    ORDER BY o.id
    LIMIT $1
)
SELECT o.id AS outbox_id, o.attempts, {EVENT_COLUMNS}
FROM candidates c
JOIN outbox o ON o.id = c.id
JOIN events e ON e.global_position = o.global_position
WHERE o.published_at IS NULL
  AND pg_try_advisory_xact_lock({_OUTBOX_LOCK_NAMESPACE}, hashtext(c.stream_id))
ORDER BY o.id
FOR UPDATE OF o SKIP LOCKED
"""

_MARK_PUBLISHED = """
UPDATE outbox SET published_at = now(), attempts = attempts + 1, last_error = NULL
WHERE id = ANY($1::bigint[])
"""

_DEFER = """
UPDATE outbox SET attempts = attempts + 1, last_error = $2,
                  available_at = now() + make_interval(secs => $3::double precision)
WHERE id = ANY($1::bigint[])
"""

_BACKLOG = "SELECT count(*) FROM outbox WHERE published_at IS NULL"


@dataclass(frozen=True)
class OutboxEntry:
    outbox_id: int
    attempts: int
    event: RecordedEvent


class OutboxBatch:
    """Entries claimed by one relay inside one open transaction."""

    def __init__(self, connection: asyncpg.Connection, entries: list[OutboxEntry]) -> None:
        self._connection = connection
        self.entries = entries

    async def mark_published(self, outbox_ids: Sequence[int]) -> None:
        if outbox_ids:
            await self._connection.execute(_MARK_PUBLISHED, list(outbox_ids))

    async def defer(self, outbox_ids: Sequence[int], error: str, delay: float) -> None:
        if outbox_ids:
            await self._connection.execute(_DEFER, list(outbox_ids), error, delay)


class PostgresOutbox:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def claim(self, limit: int) -> AsyncIterator[OutboxBatch]:
        """Claim up to ``limit`` pending entries; the claim lasts until the block exits.
        Marks made through the batch commit when the block exits normally."""
        async with (
            translated_errors(self._pool),
            self._pool.acquire() as connection,
            connection.transaction(),
        ):
            rows = await connection.fetch(_CLAIM, limit)
            entries = [OutboxEntry(r["outbox_id"], r["attempts"], recorded_event(r)) for r in rows]
            yield OutboxBatch(connection, entries)

    async def backlog(self) -> int:
        count: int = await retrying(self._pool, lambda c: c.fetchval(_BACKLOG))
        return count
