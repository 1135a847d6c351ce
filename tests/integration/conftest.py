from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from eventlog.settings import asyncpg_dsn
from tests.conftest import with_database
from tests.services import ServiceEndpoints


async def terminate_backends(sql: asyncpg.Connection) -> int:
    """Kill every other connection to this test's database, as a PostgreSQL restart would."""
    killed: int = await sql.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    return killed


@pytest.fixture
async def empty_database(services: ServiceEndpoints) -> AsyncIterator[str]:
    """A database of its own, never migrated, dropped afterwards."""
    name = f"tb_empty_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(asyncpg_dsn(services.database_url))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(services.database_url, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
