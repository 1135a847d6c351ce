"""PostgreSQL implementation of the event log. All event-log SQL lives in this module:
the events table, the outbox and the inbox. asyncpg's exceptions stop here and become
the project's own (:mod:`eventlog.errors`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg

from eventlog.errors import (
    ConcurrencyError,
    EventIdConflictError,
    MisconfiguredError,
    StoreUnavailableError,
    UnstorableTextError,
)
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
from eventlog.redaction import redact
from eventlog.settings import DatabaseSettings, asyncpg_dsn
from eventlog.text import storable_text

T = TypeVar("T")

_EVENT_COLUMNS = """
    e.stream_id, e.stream_version, e.event_id, e.event_type, e.data, e.metadata,
    e.recorded_at, e.transaction_id::text::bigint AS transaction_id, e.global_position
"""

# One round trip: check the expected version (-1 means "any") and insert the events and their
# outbox rows. Why nothing was inserted (a repeat of stored event ids, or a version clash) is
# looked up separately, on that rare path only. Folding those lookups into this statement
# (returning the head, or the stored ids, through UNION ALL) made its cached generic plan
# slow down as the table grew: 4.2k -> 1.4k appends/s over 16k rows with 8 writers, where
# this form holds ~6.5k/s.
_APPEND = """
WITH input AS (
    SELECT * FROM unnest($3::uuid[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY
        AS t(event_id, event_type, data, metadata, n)
),
head AS (
    SELECT coalesce(max(stream_version), 0) AS version FROM events WHERE stream_id = $1
),
inserted AS (
    INSERT INTO events (stream_id, stream_version, event_id, event_type, data, metadata)
    SELECT $1, head.version + input.n, input.event_id, input.event_type,
           input.data::jsonb, input.metadata::jsonb
    FROM input, head
    WHERE $2::bigint < 0 OR head.version = $2::bigint
    ORDER BY input.n
    RETURNING stream_id, stream_version, event_id, event_type,
              transaction_id::text::bigint AS transaction_id, global_position
),
queued AS (
    INSERT INTO outbox (global_position, event_id, stream_id, stream_version, event_type)
    SELECT global_position, event_id, stream_id, stream_version, event_type FROM inserted
)
SELECT stream_version, transaction_id, global_position FROM inserted
"""

_STREAM_HEAD = "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1"

_FIND_STORED = """
SELECT e.event_id, e.stream_id, e.stream_version,
       e.transaction_id::text::bigint AS transaction_id, e.global_position
FROM unnest($1::uuid[]) AS wanted(event_id) JOIN events e USING (event_id)
"""

_READ_STREAM = f"""
SELECT {_EVENT_COLUMNS} FROM events e
WHERE e.stream_id = $1 AND e.stream_version >= $2
ORDER BY e.stream_version
"""

# Rows of transactions that are still open (or that began before the oldest open one
# finished) are held back: below the snapshot's xmin, the order can no longer change.
_READ_ALL = f"""
SELECT {_EVENT_COLUMNS} FROM events e
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
SELECT o.id AS outbox_id, o.attempts, {_EVENT_COLUMNS}
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

_CONNECTION_ERRORS = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    asyncpg.AdminShutdownError,
    asyncpg.InternalClientError,  # seen when a connection was terminated mid-protocol
    asyncpg.TooManyConnectionsError,
    asyncpg.ReadOnlySQLTransactionError,  # a failed-over primary now a replica
)
_DRIVER_CONNECTION_ERRORS = tuple(e for e in _CONNECTION_ERRORS if e is not OSError)


def _refuses_text(exc: asyncpg.DataError) -> bool:
    """Whether PostgreSQL (or asyncpg, encoding a parameter as UTF-8) refused a character:
    NUL in text or jsonb, or a lone surrogate."""
    if isinstance(exc, asyncpg.UntranslatableCharacterError
                  | asyncpg.CharacterNotInRepertoireError):
        return True
    if isinstance(exc, asyncpg.InvalidTextRepresentationError):
        return "surrogate" in str(exc) or "Unicode" in str(exc)
    return isinstance(exc.__cause__, UnicodeEncodeError)


@asynccontextmanager
async def translated_errors(
    pool: asyncpg.Pool | None = None,
    errors: tuple[type[BaseException], ...] = _CONNECTION_ERRORS,
) -> AsyncIterator[None]:
    """Connection failures become ``StoreUnavailableError``. The pool's connections are
    then expired: after a database restart every pooled connection is dead, and the next
    acquire should open a fresh one instead of finding the next corpse. Text PostgreSQL
    refuses becomes ``UnstorableTextError`` (its message made storable: it quotes the text)."""
    try:
        yield
    except asyncpg.DataError as exc:
        if not _refuses_text(exc):
            raise
        first_line = storable_text(str(exc)).splitlines()[0][:300] if str(exc) else ""
        raise UnstorableTextError(
            f"PostgreSQL refused text (NUL or a lone surrogate): {first_line}") from exc
    except errors as exc:
        if pool is not None:
            await pool.expire_connections()
        raise StoreUnavailableError(f"PostgreSQL unavailable: {exc!r}") from exc


SCHEMA_REVISION = "0009"
"""The Alembic revision this code needs (a test checks it is the migrations' head). Services
refuse to start on an older schema."""

MIGRATE = "run `trainbridge migrate`"


def misconfiguration(exc: BaseException, url: str) -> MisconfiguredError | None:
    """The one-line error for a database that refuses us for a reason retrying cannot fix
    (credentials, a missing database or schema), or ``None`` for anything else."""
    shown = f"TRAINBRIDGE_DATABASE_URL={redact(url)}"
    if isinstance(exc, asyncpg.InvalidPasswordError):
        return MisconfiguredError(
            f"{shown}: PostgreSQL refused the password ({exc}); fix the URL, or set the "
            f"service role's password: {MIGRATE} with TRAINBRIDGE_<SERVICE>_DATABASE_PASSWORD")
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        return MisconfiguredError(
            f"{shown}: PostgreSQL refused the login ({exc}); fix the user in the URL, or "
            f"{MIGRATE} (it creates the service roles, and lets them log in when "
            "TRAINBRIDGE_<SERVICE>_DATABASE_PASSWORD is set)")
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return MisconfiguredError(f"{shown}: {exc}; {MIGRATE} (it creates the database)")
    if isinstance(exc, asyncpg.UndefinedTableError):
        return MisconfiguredError(
            f"{shown}: the database has no Trainbridge schema ({exc}); {MIGRATE}")
    return None


@asynccontextmanager
async def translated_refusals(url: str) -> AsyncIterator[None]:
    """Inside: a refusal (``misconfiguration``) raises ``MisconfiguredError``."""
    try:
        yield
    except asyncpg.PostgresError as exc:
        refused = misconfiguration(exc, url)
        if refused is not None:
            raise refused from None
        raise


async def check_schema(settings: DatabaseSettings) -> str:
    """Connect once and check the schema revision; return it. Raises ``MisconfiguredError``
    when the database refuses us or its schema is older than ``SCHEMA_REVISION``, and
    ``StoreUnavailableError`` when it cannot be reached (the caller may wait)."""
    async with translated_errors(), translated_refusals(settings.url):
        connection = await asyncpg.connect(asyncpg_dsn(settings.url))
        try:
            revision: str | None = await connection.fetchval(
                "SELECT version_num FROM alembic_version")
        except asyncpg.InsufficientPrivilegeError:
            raise MisconfiguredError(
                f"TRAINBRIDGE_DATABASE_URL={redact(settings.url)}: this role may not read the "
                f"schema revision (alembic_version); {MIGRATE} (revision 0008 lets the "
                "service roles read it)") from None
        finally:
            await connection.close()
    if revision is None or _older(revision, SCHEMA_REVISION):
        raise MisconfiguredError(
            f"TRAINBRIDGE_DATABASE_URL={redact(settings.url)}: the schema is at revision "
            f"{revision or 'none'}, this version of Trainbridge needs {SCHEMA_REVISION}; "
            f"{MIGRATE}")
    return revision


def _older(revision: str, than: str) -> bool:
    return revision.isdigit() and than.isdigit() and int(revision) < int(than)


async def _retrying(
    pool: asyncpg.Pool, operation: Callable[[asyncpg.Connection], Awaitable[T]]
) -> T:
    """Run an operation that is safe to repeat; if its connection was dead, once more on a
    fresh one."""
    try:
        async with translated_errors(pool), pool.acquire() as connection:
            return await operation(connection)
    except StoreUnavailableError:
        async with translated_errors(pool), pool.acquire() as connection:
            return await operation(connection)


async def _init_connection(connection: asyncpg.Connection) -> None:
    await connection.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Release a connection to the pool without asyncpg's default reset query (RESET ALL,
    UNLISTEN, advisory unlock, CLOSE ALL): one round trip per use that halved append
    throughput. asyncpg still rolls back an open transaction first. Nothing in Trainbridge
    sets session state: advisory locks are transaction-scoped, settings are ``SET LOCAL``."""


async def create_pool(settings: DatabaseSettings) -> asyncpg.Pool:
    """A connection pool with the JSON codecs the event log needs."""
    async with translated_errors():
        pool: asyncpg.Pool = await asyncpg.create_pool(
            asyncpg_dsn(settings.url),
            min_size=0,  # connect on first use: a service starts while the database is down
            max_size=settings.pool_size,
            init=_init_connection,
            reset=_keep_session,
        )
    return pool


@asynccontextmanager
async def pooled(settings: DatabaseSettings) -> AsyncIterator[asyncpg.Pool]:
    """A pool for the block, closed after it (one-shot commands). A refusal inside the block
    (credentials, missing database or schema) raises ``MisconfiguredError``."""
    pool = await create_pool(settings)
    try:
        async with translated_refusals(settings.url):
            yield pool
    finally:
        await pool.close()


async def ping(pool: asyncpg.Pool) -> None:
    """Raise ``StoreUnavailableError`` unless the database answers (readiness checks)."""
    async with translated_errors(pool):
        await pool.fetchval("SELECT 1")


def _recorded(row: asyncpg.Record) -> RecordedEvent:
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
        return [_recorded(r) for r in rows]

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

        result = await _retrying(self._pool, attempt)
        if not result.already_stored:
            self._committed()
        return result

    async def read_stream(self, stream_id: str, *, from_version: int = 1) -> list[RecordedEvent]:
        rows = await _retrying(
            self._pool, lambda c: c.fetch(_READ_STREAM, stream_id, from_version)
        )
        return [_recorded(r) for r in rows]

    async def read_all(
        self, after: LogPosition = LOG_START, *, limit: int = 500
    ) -> list[RecordedEvent]:
        rows = await _retrying(
            self._pool,
            lambda c: c.fetch(_READ_ALL, str(after.transaction_id), after.global_position, limit),
        )
        return [_recorded(r) for r in rows]

    async def is_processed(self, consumer: str, message_id: str) -> bool:
        found = await _retrying(
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
                translated_errors(self._pool, _DRIVER_CONNECTION_ERRORS),
                connection.transaction(),
            ):
                uow = PostgresUnitOfWork(connection)
                yield uow
        finally:
            await self._pool.release(connection)
        if uow.appended:
            self._committed()


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
            entries = [OutboxEntry(r["outbox_id"], r["attempts"], _recorded(r)) for r in rows]
            yield OutboxBatch(connection, entries)

    async def backlog(self) -> int:
        count: int = await _retrying(self._pool, lambda c: c.fetchval(_BACKLOG))
        return count



# ---------------------------------------------------------------- hash chains (tamper evidence)
#
# Migration 0006 chains each event to its stream's previous version: ``prev_hash`` is that
# version's ``chain_hash`` and ``chain_hash = events_chain_hash(prev_hash, row)``, set by a
# trigger. Verifying is one pass in the database (an index-ordered scan and a window): only the
# findings and the counts come back, however long the log.


@dataclass(frozen=True)
class ChainFinding:
    """One thing ``trainbridge verify`` found wrong with a hash chain."""

    table: str
    """``events`` or ``labelbox_calls``."""
    chain: str
    """The stream id (events) or model run id (labelbox_calls)."""
    position: int
    """``stream_version`` or ``chain_seq`` of the row concerned."""
    row_id: int | None
    """``global_position`` or ``call_id`` of the row concerned (None when it is gone)."""
    kind: str
    """``altered``: the row's content no longer matches its stored hash. ``removed``: positions
    are missing before this row. ``broken_link``: the row's ``prev_hash`` is not its
    predecessor's hash (the predecessor was rewritten along with its hash). ``duplicate``:
    a position occurs twice. ``anchor``: an anchored head is gone or has another hash."""
    detail: str


@dataclass(frozen=True)
class ChainReport:
    table: str
    rows: int
    chains: int
    findings: tuple[ChainFinding, ...]


# ``{table}``, ``{chain}``, ``{position}``, ``{row_id}`` and ``{scope}`` are filled in from
# constants by the callers, never from input.
CHAIN_CHECK = """
WITH chained AS (
    SELECT t.{chain} AS chain, t.{position} AS position, t.{row_id} AS row_id,
           t.prev_hash, t.chain_hash,
           t.chain_hash IS DISTINCT FROM {table}_chain_hash(t.prev_hash, t) AS altered,
           lag(t.{position}) OVER w AS before_position,
           lag(t.chain_hash) OVER w AS before_hash
    FROM {table} t
    WHERE {scope}
    WINDOW w AS (PARTITION BY t.{chain} ORDER BY t.{position})
),
judged AS (
    SELECT *, array_remove(ARRAY[
               CASE WHEN altered THEN 'altered' END,
               CASE WHEN position > coalesce(before_position, 0) + 1 THEN 'removed' END,
               CASE WHEN position <= before_position THEN 'duplicate' END,
               CASE WHEN position = coalesce(before_position, 0) + 1
                         AND prev_hash IS DISTINCT FROM before_hash THEN 'broken_link' END
           ], NULL) AS kinds
    FROM chained
)
SELECT count(*) AS rows, count(*) FILTER (WHERE before_position IS NULL) AS chains,
       coalesce(jsonb_agg(jsonb_build_object(
           'chain', chain, 'position', position, 'row_id', row_id, 'kinds', kinds,
           'gap_from', coalesce(before_position, 0) + 1,
           'prev', encode(prev_hash, 'hex'), 'before', encode(before_hash, 'hex'))
           ORDER BY chain, position) FILTER (WHERE cardinality(kinds) > 0), '[]') AS findings
FROM judged
"""

CHAIN_HEADS = """
SELECT DISTINCT ON (t.{chain}) t.{chain} AS chain, t.{position} AS position,
       encode(t.chain_hash, 'hex') AS chain_hash
FROM {table} t WHERE {scope}
ORDER BY t.{chain}, t.{position} DESC
"""

CHAIN_ANCHOR_CHECK = """
SELECT a.chain, a.position, a.chain_hash AS anchored, t.{row_id} AS row_id,
       encode(t.chain_hash, 'hex') AS stored
FROM unnest($1::text[], $2::bigint[], $3::text[]) AS a(chain, position, chain_hash)
LEFT JOIN {table} t ON t.{chain} = a.chain AND t.{position} = a.position
WHERE t.chain_hash IS NULL OR encode(t.chain_hash, 'hex') <> a.chain_hash
ORDER BY a.chain
"""


@dataclass(frozen=True)
class ChainedTable:
    """Where a hash-chained table keeps its chain: the SQL above, filled in."""

    table: str
    chain: str
    position: str
    row_id: str
    scope: str
    """A condition on ``t`` and ``$1`` (the chain to check, or NULL for all)."""

    def sql(self, template: str) -> str:
        return template.format(
            table=self.table, chain=self.chain, position=self.position, row_id=self.row_id,
            scope=self.scope,
        )


EVENT_CHAIN = ChainedTable(
    "events", "stream_id", "stream_version", "global_position",
    scope="$1::text IS NULL OR t.stream_id = $1",
)


def _describe(table: ChainedTable, found: dict[str, Any]) -> list[ChainFinding]:
    position: int = found["position"]
    noun = table.position
    findings = []
    for kind in found["kinds"]:
        if kind == "altered":
            detail = (f"{noun} {position}: its content does not match its stored hash "
                      "(the row was changed after it was written)")
        elif kind == "removed":
            first: int = found["gap_from"]
            missing = str(first) if first == position - 1 else f"{first}..{position - 1}"
            detail = f"{noun} {missing} missing before {position} (removed)"
        elif kind == "duplicate":
            detail = f"{noun} {position} occurs more than once"
        else:
            detail = (f"{noun} {position}: its prev_hash ({str(found['prev'])[:16]}...) is not "
                      f"the hash of {noun} {position - 1} ({str(found['before'])[:16]}...): "
                      f"{position - 1} was rewritten together with its hash, or replaced")
        findings.append(ChainFinding(
            table.table, found["chain"], position, found["row_id"], kind, detail))
    return findings


async def check_chain(
    connection: asyncpg.Connection, table: ChainedTable, chain: str | None
) -> ChainReport:
    """Recompute ``table``'s hash chains (all, or ``chain``'s) and report what is wrong."""
    row = await connection.fetchrow(table.sql(CHAIN_CHECK), chain)
    assert row is not None
    findings = row["findings"]
    if isinstance(findings, str):  # a connection without the pool's jsonb codec
        findings = json.loads(findings)
    return ChainReport(
        table.table, row["rows"], row["chains"],
        tuple(finding for found in findings for finding in _describe(table, found)),
    )


async def chain_heads(
    connection: asyncpg.Connection, table: ChainedTable, chain: str | None
) -> dict[str, tuple[int, str]]:
    """Each chain's last position and hash (hex): what an operator records as an anchor."""
    rows = await connection.fetch(table.sql(CHAIN_HEADS), chain)
    return {r["chain"]: (r["position"], r["chain_hash"]) for r in rows}


async def check_anchor(
    connection: asyncpg.Connection, table: ChainedTable, heads: dict[str, tuple[int, str]]
) -> tuple[ChainFinding, ...]:
    """Anchored heads that are gone or have another hash now."""
    chains = sorted(heads)
    rows = await connection.fetch(
        table.sql(CHAIN_ANCHOR_CHECK), chains, [heads[c][0] for c in chains],
        [heads[c][1] for c in chains],
    )
    return tuple(
        ChainFinding(
            table.table, r["chain"], r["position"], r["row_id"], "anchor",
            f"anchored {table.position} {r['position']} "
            + ("is gone (removed)" if r["stored"] is None else
               f"has hash {r['stored'][:16]}..., anchored {r['anchored'][:16]}...")
            + ": rows were removed or the chain was recomputed since the anchor was taken",
        )
        for r in rows
    )
