"""The event store on PostgreSQL: the events table and the inbox, appends with optimistic
concurrency, the unit of work. Its SQL lives here; its connection errors are translated by
:mod:`eventlog.postgres.errors`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import asyncpg

from eventlog.errors import ConcurrencyError, EventIdConflictError
from eventlog.events import (
    LOG_START,
    AppendResult,
    ExpectedVersion,
    LogPosition,
    NewEvent,
    RecordedEvent,
    StreamState,
    validate_append,
)
from eventlog.postgres.errors import DRIVER_CONNECTION_ERRORS, translated_errors
from eventlog.postgres.pool import retrying

EVENT_COLUMNS = """
    e.stream_id, e.stream_version, e.event_id, e.event_type, e.data, e.metadata,
    e.recorded_at, e.transaction_id::text::bigint AS transaction_id, e.global_position
"""

# One round trip: check the expected version (-1 means "any") and insert the events and their
# outbox rows. Why nothing was inserted (a repeat of stored event ids, or a version clash) is
# looked up separately, on that rare path only. Folding those lookups into this statement
# (returning the head, or the stored ids, through UNION ALL) made its cached generic plan
# slow down as the table grew: 4.2k -> 1.4k appends/s over 16k rows with 8 writers, where
# this form holds ~6.5k/s.
#
# The statement chains the first event itself (migration 0010): the head's hash comes with
# the head, and the row's own columns (position, transaction, time) are taken here so that
# its hash can be computed before the insert. The events after the first in a multi-event
# append come without a hash, and the events_chain trigger chains each to the one before
# (it sees the rows this statement inserted before it). A concurrent writer that takes the
# same version fails on the (stream_id, stream_version) key, as before: a link is never
# made to a head that another writer replaced.
_APPEND = """
WITH input AS (
    SELECT * FROM unnest($3::uuid[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY
        AS t(event_id, event_type, data, metadata, n)
),
head AS (
    SELECT coalesce(last.stream_version, 0) AS version, last.chain_hash
    FROM (SELECT) AS one LEFT JOIN LATERAL (
        SELECT e.stream_version, e.chain_hash FROM events e WHERE e.stream_id = $1
        ORDER BY e.stream_version DESC LIMIT 1
    ) AS last ON true
),
fresh AS (
    SELECT nextval('events_global_position_seq') AS global_position,
           pg_current_xact_id() AS transaction_id, now() AS recorded_at,
           head.version + input.n AS stream_version, input.n, input.event_id,
           input.event_type, input.data::jsonb AS data, input.metadata::jsonb AS metadata,
           CASE WHEN input.n = 1 THEN head.chain_hash END AS prev_hash
    FROM input, head
    WHERE $2::bigint < 0 OR head.version = $2::bigint
    ORDER BY input.n
),
inserted AS (
    INSERT INTO events OVERRIDING SYSTEM VALUE
    SELECT f.global_position, f.transaction_id, $1, f.stream_version, f.event_id, f.event_type,
           f.data, f.metadata, f.recorded_at, f.prev_hash,
           CASE WHEN f.n = 1 THEN events_chain_hash_of(
               f.prev_hash, $1, f.stream_version, f.event_id, f.event_type, f.data,
               f.metadata, f.recorded_at, f.global_position, f.transaction_id) END
    FROM fresh f
    ORDER BY f.n
    RETURNING stream_id, stream_version, event_id, event_type,
              transaction_id::text::bigint AS transaction_id, global_position
),
queued AS (
    INSERT INTO outbox (global_position, event_id, stream_id, stream_version, event_type)
    SELECT global_position, event_id, stream_id, stream_version, event_type FROM inserted
)
SELECT stream_version, transaction_id, global_position FROM inserted
"""

# The same append for one event, the usual case (every webhook, every stage event): the same
# checks, columns and hash, in the cheapest plan shape found. The row is built in a subquery
# rather than in CTEs (no tuplestore, no sort), the event's own values are parameters rather
# than arrays to unnest, and the outbox insert is the main statement, its RETURNING the result
# (``pg_current_xact_id()`` is the transaction's, the same value the event row took). Per
# single-event append this costs ~15-20 us (~15 %) less PostgreSQL CPU than _APPEND did
# (bench/README.md, "Where an append's PostgreSQL CPU goes").
_APPEND_ONE = """
WITH inserted AS (
    INSERT INTO events OVERRIDING SYSTEM VALUE
    SELECT f.global_position, f.transaction_id, $1, f.stream_version, $3, $4, f.data,
           f.metadata, f.recorded_at, f.prev_hash,
           events_chain_hash_of(
               f.prev_hash, $1, f.stream_version, $3, $4, f.data, f.metadata, f.recorded_at,
               f.global_position, f.transaction_id)
    FROM (
        SELECT nextval('events_global_position_seq') AS global_position,
               pg_current_xact_id() AS transaction_id, now() AS recorded_at,
               coalesce(last.stream_version, 0) + 1 AS stream_version,
               last.chain_hash AS prev_hash, $5::text::jsonb AS data, $6::text::jsonb AS metadata
        FROM (SELECT) AS one LEFT JOIN LATERAL (
            SELECT e.stream_version, e.chain_hash FROM events e WHERE e.stream_id = $1
            ORDER BY e.stream_version DESC LIMIT 1
        ) AS last ON true
        WHERE $2::bigint < 0 OR coalesce(last.stream_version, 0) = $2::bigint
    ) AS f
    RETURNING global_position, stream_version
)
INSERT INTO outbox (global_position, event_id, stream_id, stream_version, event_type)
SELECT global_position, $3, $1, stream_version, $4 FROM inserted
RETURNING stream_version, pg_current_xact_id()::text::bigint AS transaction_id, global_position
"""

_STREAM_HEAD = "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1"

_FIND_STORED = """
SELECT e.event_id, e.stream_id, e.stream_version,
       e.transaction_id::text::bigint AS transaction_id, e.global_position
FROM unnest($1::uuid[]) AS wanted(event_id) JOIN events e USING (event_id)
"""

_READ_STREAM = f"""
SELECT {EVENT_COLUMNS} FROM events e
WHERE e.stream_id = $1 AND e.stream_version >= $2
ORDER BY e.stream_version
"""

# Rows of transactions that are still open (or that began before the oldest open one
# finished) are held back: below the snapshot's xmin, the order can no longer change.
_READ_ALL = f"""
SELECT {EVENT_COLUMNS} FROM events e
WHERE (e.transaction_id, e.global_position) > ($1::text::xid8, $2::bigint)
  AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY e.transaction_id, e.global_position
LIMIT $3
"""

_RECORD_PROCESSED = """
INSERT INTO inbox (consumer, message_id, event_type) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING RETURNING true
"""

_IS_PROCESSED = "SELECT EXISTS (SELECT 1 FROM inbox WHERE consumer = $1 AND message_id = $2)"



def recorded_event(row: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(
        stream_id=row["stream_id"],
        stream_version=row["stream_version"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        data=row["data"],
        metadata=row["metadata"],
        recorded_at=row["recorded_at"],
        position=LogPosition(row["transaction_id"], row["global_position"]),
    )


def _expected_as_int(expected: ExpectedVersion) -> int:
    if expected is StreamState.ANY:
        return -1
    if expected is StreamState.NO_STREAM:
        return 0
    return expected


async def _find_stored(
    connection: asyncpg.Connection, stream_id: str, events: Sequence[NewEvent]
) -> AppendResult | None:
    """The stored result if these events were appended before; ``None`` if none was."""
    rows = await connection.fetch(_FIND_STORED, [e.event_id for e in events])
    if not rows:
        return None
    stored = {r["event_id"]: r for r in rows}
    found = [stored.get(e.event_id) for e in events]
    if not all(r is not None and r["stream_id"] == stream_id for r in found):
        raise EventIdConflictError(
            f"stream {stream_id!r}: some event ids are already stored elsewhere or not all are"
        )
    return AppendResult(
        stream_id,
        max(r["stream_version"] for r in rows),
        tuple(LogPosition(r["transaction_id"], r["global_position"]) for r in found if r),
        already_stored=True,
    )


async def _insert(
    connection: asyncpg.Connection,
    stream_id: str,
    events: Sequence[NewEvent],
    expected: ExpectedVersion,
) -> AppendResult | int:
    """Insert at the expected version: the result, or the stream's head if it did not match.
    Raises ``asyncpg.UniqueViolationError`` when an event id is stored already or a
    concurrent writer took the version."""
    if len(events) == 1:
        event = events[0]
        rows = await connection.fetch(
            _APPEND_ONE,
            stream_id,
            _expected_as_int(expected),
            event.event_id,
            event.event_type,
            json.dumps(event.data),
            json.dumps(event.metadata),
        )
    else:
        rows = await connection.fetch(
            _APPEND,
            stream_id,
            _expected_as_int(expected),
            [e.event_id for e in events],
            [e.event_type for e in events],
            [json.dumps(e.data) for e in events],
            [json.dumps(e.metadata) for e in events],
        )
    if not rows:
        head: int = await connection.fetchval(_STREAM_HEAD, stream_id)
        return head
    return AppendResult(
        stream_id,
        max(r["stream_version"] for r in rows),
        tuple(LogPosition(r["transaction_id"], r["global_position"]) for r in rows),
    )


async def _append_once(
    connection: asyncpg.Connection,
    stream_id: str,
    events: Sequence[NewEvent],
    expected: ExpectedVersion,
) -> AppendResult:
    """Insert, or explain why not: an idempotent repeat or a version clash."""
    outcome = await _insert(connection, stream_id, events, expected)
    if isinstance(outcome, AppendResult):
        return outcome
    stored = await _find_stored(connection, stream_id, events)
    if stored is not None:
        return stored
    raise ConcurrencyError(stream_id, expected, outcome)


class PostgresUnitOfWork:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection
        """The transaction's connection, for a service's own tables in the same commit."""
        self.appended = False

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = StreamState.ANY,
    ) -> AppendResult:
        validate_append(events, expected_version)
        # A unique violation would doom this transaction, so look for a repeat first.
        stored = await _find_stored(self.connection, stream_id, events)
        if stored is not None:
            return stored
        try:
            result = await _append_once(self.connection, stream_id, events, expected_version)
        except asyncpg.UniqueViolationError as exc:
            raise ConcurrencyError(stream_id, expected_version, None) from exc
        self.appended = self.appended or not result.already_stored
        return result

    async def read_stream(self, stream_id: str, *, from_version: int = 1) -> list[RecordedEvent]:
        rows = await self.connection.fetch(_READ_STREAM, stream_id, from_version)
        return [recorded_event(r) for r in rows]

    async def record_processed(self, consumer: str, message_id: str, event_type: str) -> bool:
        inserted = await self.connection.fetchval(
            _RECORD_PROCESSED, consumer, message_id, event_type
        )
        return bool(inserted)


class PostgresEventStore:
    MAX_APPEND_ATTEMPTS = 20

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._listeners: list[Callable[[], None]] = []

    def on_commit(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    def _committed(self) -> None:
        for listener in self._listeners:
            listener()

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = StreamState.ANY,
    ) -> AppendResult:
        # One statement, so its implicit transaction is the whole append. A unique
        # violation means a concurrent writer got there first: run it again, and the
        # statement itself then decides (idempotent repeat, version clash, or success).
        # Repeating after a lost connection is safe for the same reason: the event ids.
        validate_append(events, expected_version)

        async def attempt(connection: asyncpg.Connection) -> AppendResult:
            for _ in range(self.MAX_APPEND_ATTEMPTS):
                try:
                    return await _append_once(connection, stream_id, events, expected_version)
                except asyncpg.UniqueViolationError:
                    stored = await _find_stored(connection, stream_id, events)
                    if stored is not None:
                        return stored
            raise ConcurrencyError(stream_id, expected_version, None)

        result = await retrying(self._pool, attempt)
        if not result.already_stored:
            self._committed()
        return result

    async def read_stream(self, stream_id: str, *, from_version: int = 1) -> list[RecordedEvent]:
        rows = await retrying(
            self._pool, lambda c: c.fetch(_READ_STREAM, stream_id, from_version)
        )
        return [recorded_event(r) for r in rows]

    async def read_all(
        self, after: LogPosition = LOG_START, *, limit: int = 500
    ) -> list[RecordedEvent]:
        rows = await retrying(
            self._pool,
            lambda c: c.fetch(_READ_ALL, str(after.transaction_id), after.global_position, limit),
        )
        return [recorded_event(r) for r in rows]

    async def is_processed(self, consumer: str, message_id: str) -> bool:
        found = await retrying(
            self._pool, lambda c: c.fetchval(_IS_PROCESSED, consumer, message_id)
        )
        return bool(found)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[PostgresUnitOfWork]:
        async with translated_errors(self._pool):
            connection = await self._pool.acquire()
        try:
            # Around the caller's block, a plain OSError is the caller's (a file, a socket of
            # its own), not the database's: only the driver's connection errors mean an outage.
            async with (
                translated_errors(self._pool, DRIVER_CONNECTION_ERRORS),
                connection.transaction(),
            ):
                uow = PostgresUnitOfWork(connection)
                yield uow
        finally:
            await self._pool.release(connection)
        if uow.appended:
            self._committed()
