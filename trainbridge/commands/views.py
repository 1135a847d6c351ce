"""What the read-only commands (``runs``, ``audit``, ``parked``) share: run a query of
``trainbridge.operator`` on a migrated database and print its text, or one line saying why
not (exit 1); or keep printing (``runs --watch``, ``audit --follow``) until what it shows has
ended or Ctrl-C, both exit 0."""

from __future__ import annotations

import argparse
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


def interval(text: str) -> float:
    """``--interval``: seconds between two looks at the database, more than 0."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return seconds


def write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def keep_showing(command: str, database: DatabaseSettings,
                 watch: Callable[[], Awaitable[None]]) -> int:
    """Run a watching query (it writes as it goes) until it returns; Ctrl-C ends it quietly."""
    from trainbridge.operator import UnknownModelRunError

    try:
        on_migrated_database(database, watch)
    except (ValueError, UnknownModelRunError) as exc:
        return refused(command, exc)
    except KeyboardInterrupt:
        write("\n")
    return 0
