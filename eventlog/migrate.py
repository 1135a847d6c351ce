"""Apply the Alembic migrations programmatically (``trainbridge migrate`` and the tests)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy.exc import InterfaceError, OperationalError

import migrations
from eventlog.errors import StoreUnavailableError
from eventlog.settings import asyncpg_dsn, redact

logger = logging.getLogger(__name__)


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.attributes["database_url"] = database_url
    return config


async def ensure_database(database_url: str) -> None:
    """Create the database named in ``database_url`` if the server does not have it yet."""
    dsn = asyncpg_dsn(database_url)
    try:
        connection = await asyncpg.connect(dsn)
    except asyncpg.InvalidCatalogNameError:
        parts = urlsplit(dsn)
        name = parts.path.lstrip("/")
        admin = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
        try:
            quoted = '"' + name.replace('"', '""') + '"'
            await admin.execute(f"CREATE DATABASE {quoted}")
            logger.info("created database %s", name)
        except asyncpg.DuplicateDatabaseError:
            pass  # a concurrent `trainbridge migrate` created it first
        finally:
            await admin.close()
    else:
        await connection.close()


def upgrade(database_url: str, revision: str = "head") -> None:
    """Create the database if needed and bring it to ``revision``. Safe to run twice or
    concurrently."""
    try:
        asyncio.run(ensure_database(database_url))
        command.upgrade(alembic_config(database_url), revision)
    except (OSError, asyncpg.PostgresConnectionError, OperationalError, InterfaceError) as exc:
        cause = exc.orig if isinstance(exc, OperationalError | InterfaceError) else exc
        raise StoreUnavailableError(
            f"cannot reach the database at {redact(database_url)}: {cause}"
        ) from exc
