"""Driver errors become the project's own (:mod:`eventlog.errors`) here, and nowhere else:
connection failures are ``StoreUnavailableError``, refused text ``UnstorableTextError``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from eventlog.errors import StoreUnavailableError, UnstorableTextError
from eventlog.text import storable_text

CONNECTION_ERRORS = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    asyncpg.AdminShutdownError,
    asyncpg.InternalClientError,  # seen when a connection was terminated mid-protocol
    asyncpg.TooManyConnectionsError,
    asyncpg.ReadOnlySQLTransactionError,  # a failed-over primary now a replica
)
DRIVER_CONNECTION_ERRORS = tuple(e for e in CONNECTION_ERRORS if e is not OSError)
"""The same without ``OSError``: around a caller's own code, a plain ``OSError`` is its own
(a file, a socket), not the database's."""


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
    errors: tuple[type[BaseException], ...] = CONNECTION_ERRORS,
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


