"""Apply the Alembic migrations programmatically (``trainbridge migrate`` and the tests)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy.exc import InterfaceError, OperationalError

import migrations
from eventlog import scram
from eventlog.errors import StoreUnavailableError
from eventlog.postgres import translated_refusals
from eventlog.settings import LOGIN_PASSWORDS, asyncpg_dsn, redact

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


SERVICE_ROLES = ("ingest", "trainer", "reporter", "operator")
"""Each has a role ``trainbridge_<service>`` (migration 0007)."""

LOGIN_PASSWORD_SETTINGS = {service: setting.name for service, setting in LOGIN_PASSWORDS.items()}
"""`trainbridge migrate` lets a role log in with the password in this setting, when set."""


async def _grant_logins(database_url: str, passwords: Mapping[str, str]) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        for service, password in passwords.items():
            if service not in SERVICE_ROLES:
                raise ValueError(f"no role for {service!r}")
            await connection.execute(login_statement(f"trainbridge_{service}", password))
            logger.info("role trainbridge_%s may log in", service)
    finally:
        await connection.close()


def login_statement(role: str, password: str) -> str:
    """``ALTER ROLE`` with the password's SCRAM-SHA-256 verifier, computed here: the password
    itself never reaches the server (nor its statement log, nor pg_stat_statements). The
    verifier's alphabet (base64, ``$``, ``:``) needs no quoting."""
    return f"ALTER ROLE {role} WITH LOGIN PASSWORD '{scram.verifier(password)}'"


def grant_logins(database_url: str, passwords: Mapping[str, str]) -> None:
    """Let the service roles log in with these passwords (``{"ingest": "..."}``)."""
    if passwords:
        asyncio.run(_refusals_translated(_grant_logins(database_url, passwords), database_url))


async def _refusals_translated(work: Coroutine[Any, Any, None], database_url: str) -> None:
    async with translated_refusals(database_url):
        await work


def upgrade(database_url: str, revision: str = "head") -> None:
    """Create the database if needed and bring it to ``revision``. Safe to run twice or
    concurrently."""
    try:
        asyncio.run(_refusals_translated(ensure_database(database_url), database_url))
        command.upgrade(alembic_config(database_url), revision)
    except (OSError, asyncpg.PostgresConnectionError, OperationalError, InterfaceError) as exc:
        cause = exc.orig if isinstance(exc, OperationalError | InterfaceError) else exc
        raise StoreUnavailableError(
            f"cannot reach the database at {redact(database_url)}: {cause}"
        ) from exc
