"""Whether the database will have us: refusals that retrying cannot fix (credentials, a
missing database or schema) become one-line ``MisconfiguredError``s, and the schema's
revision is checked before a service starts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from eventlog.errors import MisconfiguredError
from eventlog.postgres.errors import translated_errors
from eventlog.redaction import redact
from eventlog.settings import DatabaseSettings, asyncpg_dsn

SCHEMA_REVISION = "0011"
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
