"""The database door services use (``eventlog.postgres.Database``): transactions commit or
roll back as a block, and driver errors arrive as the project's own."""

from __future__ import annotations

import asyncpg
import pytest

from eventlog import StoreUnavailableError, UnstorableTextError
from eventlog.postgres import Database, create_pool
from eventlog.settings import DatabaseSettings


async def test_a_transaction_commits_when_its_block_ends(
    database: Database, sql: asyncpg.Connection,
) -> None:
    async with database.transaction() as connection:
        await connection.execute("INSERT INTO model_types (model_type, description, "
                                 "announced_by) VALUES ('ner', '', 'test')")

    assert await sql.fetchval("SELECT count(*) FROM model_types") == 1


async def test_a_transaction_whose_block_fails_leaves_nothing(
    database: Database, sql: asyncpg.Connection,
) -> None:
    with pytest.raises(RuntimeError):
        async with database.transaction() as connection:
            await connection.execute("INSERT INTO model_types (model_type, description, "
                                     "announced_by) VALUES ('ner', '', 'test')")
            raise RuntimeError("the caller failed")

    assert await sql.fetchval("SELECT count(*) FROM model_types") == 0


async def test_text_postgresql_refuses_is_an_unstorable_text_error(database: Database) -> None:
    with pytest.raises(UnstorableTextError, match="refused text"):
        async with database.connection() as connection:
            await connection.execute("INSERT INTO model_types (model_type, description, "
                                     "announced_by) VALUES ($1, '', 'test')", "a\x00b")


async def test_an_unreachable_database_is_store_unavailable() -> None:
    database = Database(await create_pool(DatabaseSettings(
        url="postgresql://nobody@127.0.0.1:1/none", pool_size=1)))
    try:
        with pytest.raises(StoreUnavailableError):
            async with database.connection() as connection:
                await connection.fetchval("SELECT 1")
    finally:
        await database.close()
