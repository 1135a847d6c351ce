from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from eventlog.postgres import PostgresEventStore, PostgresOutbox, create_pool
from eventlog.settings import DatabaseSettings, asyncpg_dsn


@pytest.fixture
async def pool(database_settings: DatabaseSettings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_settings)
    yield pool
    await pool.close()


@pytest.fixture
def store(pool: asyncpg.Pool) -> PostgresEventStore:
    return PostgresEventStore(pool)


@pytest.fixture
def outbox(pool: asyncpg.Pool) -> PostgresOutbox:
    return PostgresOutbox(pool)


@pytest.fixture
async def sql(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection for the test's own queries (not through the code under test)."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    yield connection
    await connection.close()


async def terminate_backends(sql: asyncpg.Connection) -> int:
    """Kill every other connection to this test's database, as a PostgreSQL restart would."""
    killed: int = await sql.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    return killed
