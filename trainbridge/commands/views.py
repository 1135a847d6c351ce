"""What the read-only commands (``runs``, ``audit``, ``parked``) share: run a query of
``trainbridge.operator`` on a migrated database and print its text, or one line saying why
not (exit 1)."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable

from eventlog.settings import DatabaseSettings
from trainbridge.commands.common import on_migrated_database


def refused(command: str, exc: Exception) -> int:
    print(f"trainbridge {command}: {exc}", file=sys.stderr)
    return 1


def show(command: str, database: DatabaseSettings, query: Callable[[], Awaitable[str]]) -> int:
    from trainbridge.operator import UnknownModelRunError

    try:
        output = on_migrated_database(database, query)
    except (ValueError, UnknownModelRunError) as exc:
        return refused(command, exc)
    sys.stdout.write(output)
    return 0
