"""The transactional outbox on PostgreSQL: each appended event's row, claimed by the relays
stream by stream, marked published or deferred for a retry."""

from __future__ import annotations

import contextlib
import operator
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

# Sent with the claim's COMMIT in one round trip (the simple query protocol, which takes
# no parameters: the ids are integers, written out by _id_array).
_MARK_PUBLISHED_AND_COMMIT = """
UPDATE outbox SET published_at = now(), attempts = attempts + 1, last_error = NULL
WHERE id = ANY('{ids}'::bigint[]);
COMMIT
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
        self._published: list[int] = []

    async def mark_published(self, outbox_ids: Sequence[int]) -> None:
        """Mark the entries published as the claim commits: the marks and the COMMIT go in
        one round trip, so they are made together or not at all, like every mark made
        through the batch."""
        self._published.extend(outbox_ids)

    async def defer(self, outbox_ids: Sequence[int], error: str, delay: float) -> None:
        if outbox_ids:
            await self._connection.execute(_DEFER, list(outbox_ids), error, delay)

    async def commit(self) -> None:
        if self._published:
            await self._connection.execute(
                _MARK_PUBLISHED_AND_COMMIT.format(ids=_id_array(self._published)))
        else:
            await self._connection.execute("COMMIT")


def _id_array(ids: Sequence[int]) -> str:
    """A bigint[] literal of ``ids``: ``operator.index`` takes integers only (no floats, no
    strings), so the literal holds digits and commas alone."""
    return "{" + ",".join(str(operator.index(i)) for i in ids) + "}"


class PostgresOutbox:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def claim(self, limit: int) -> AsyncIterator[OutboxBatch]:
        """Claim up to ``limit`` pending entries; the claim lasts until the block exits.
        Marks made through the batch commit when the block exits normally, and are rolled
        back with the claim when it raises."""
        async with translated_errors(self._pool), self._pool.acquire() as connection:
            # BEGIN and COMMIT by hand, not asyncpg's transaction(): the COMMIT then goes
            # with the marks, in the same round trip (OutboxBatch.commit).
            await connection.execute("BEGIN")
            try:
                rows = await connection.fetch(_CLAIM, limit)
                batch = OutboxBatch(connection, [
                    OutboxEntry(r["outbox_id"], r["attempts"], recorded_event(r)) for r in rows])
                yield batch
                await batch.commit()
            except BaseException:
                # The original error matters; a connection too broken to roll back is
                # closed by the pool as it takes the connection back.
                with contextlib.suppress(Exception):
                    if not connection.is_closed() and connection.is_in_transaction():
                        await connection.execute("ROLLBACK")
                raise

    async def backlog(self) -> int:
        count: int = await retrying(self._pool, lambda c: c.fetchval(_BACKLOG))
        return count
