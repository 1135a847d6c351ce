"""The connection pool and the one door services use to reach PostgreSQL: a
:class:`Database` whose ``connection()`` and ``transaction()`` blocks turn driver errors
into the project's own (:mod:`eventlog.postgres.errors`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeAlias, TypeVar

import asyncpg

from eventlog.errors import StoreUnavailableError
from eventlog.postgres.errors import translated_errors
from eventlog.postgres.schema import translated_refusals
from eventlog.settings import DatabaseSettings, asyncpg_dsn

T = TypeVar("T")

Connection: TypeAlias = asyncpg.Connection
"""A connection handed out by :class:`Database` (its statements: ``execute``, ``fetch``,
``fetchrow``, ``fetchval``)."""
Pool: TypeAlias = asyncpg.Pool


async def retrying(
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


class Database:
    """A pool seen through the project's errors. Inside ``connection()`` and
    ``transaction()`` a lost database raises ``StoreUnavailableError`` and text PostgreSQL
    refuses raises ``UnstorableTextError``; nothing outside this package handles asyncpg's
    exceptions."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @classmethod
    async def open(cls, settings: DatabaseSettings) -> Database:
        return cls(await create_pool(settings))

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A pooled connection for the block (each statement its own transaction)."""
        async with translated_errors(self.pool), self.pool.acquire() as connection:
            yield connection

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """A connection in a transaction that commits when the block exits normally."""
        async with (
            translated_errors(self.pool),
            self.pool.acquire() as connection,
            connection.transaction(),
        ):
            yield connection

    async def retrying(self, operation: Callable[[Connection], Awaitable[T]]) -> T:
        """Run an operation that is safe to repeat, once more on a fresh connection if its
        connection was dead."""
        return await retrying(self.pool, operation)

    async def ping(self) -> None:
        await ping(self.pool)

    @asynccontextmanager
    async def session_lock(self, key: tuple[int, int], *, wait: bool = True
                           ) -> AsyncIterator[bool]:
        """Hold a session advisory lock (on a connection of its own) for the block. With
        ``wait=False`` the block runs at once and gets ``False`` if another session holds
        it. The pool keeps session state (no reset query), so a connection whose unlock is
        in doubt is closed, never handed back still holding the lock."""
        async with translated_errors(self.pool):
            connection = await self.pool.acquire()
        try:
            try:
                async with translated_errors(self.pool):
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
            await self.pool.release(connection)

