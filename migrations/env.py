"""Async Alembic environment. Every run takes a transaction-scoped advisory lock first, so
`trainbridge migrate` is safe to run twice or from several containers at once: the second
runner waits, then finds nothing left to do."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from eventlog.settings import asyncpg_dsn, sqlalchemy_url

MIGRATION_LOCK_KEY = 0x7472_6169_6E62  # "trainb": any constant shared by all runners


def _url() -> str:
    config = context.config
    configured = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if not configured:
        from eventlog.settings import DatabaseSettings

        configured = DatabaseSettings.from_env().url
    return sqlalchemy_url(configured)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection, transactional_ddl=True, transaction_per_migration=False
    )
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()


async def _run_async() -> None:
    import asyncpg

    # asyncpg parses the URL itself, as the services' pools do: libpq parameters such as
    # application_name or sslmode in the query string work here too (SQLAlchemy would pass
    # them to asyncpg.connect as keyword arguments it does not take).
    dsn = asyncpg_dsn(_url())
    engine = create_async_engine("postgresql+asyncpg://",
                                 async_creator=lambda: asyncpg.connect(dsn))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `trainbridge migrate`")
asyncio.run(_run_async())
