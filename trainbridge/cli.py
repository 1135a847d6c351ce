"""``trainbridge`` — one entry point for every service and operator command.

Settings are read from the environment here, once, and passed down. Each subcommand
imports its service lazily, so ``trainbridge migrate`` never loads the Labelbox SDK."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence

from eventlog.errors import EventLogError
from eventlog.settings import DatabaseSettings, SettingsError, redact


def _migrate(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from eventlog import migrate

    settings = DatabaseSettings.from_env(environ)
    logging.getLogger("trainbridge").info("migrating %s", redact(settings.url))
    migrate.upgrade(settings.url, args.revision)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trainbridge",
        description="Event-sourced backend behind Labelbox's 'Train Model' button.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    migrate = commands.add_parser(
        "migrate",
        help="apply the database migrations (safe to run twice or concurrently)",
        description="Bring TRAINBRIDGE_DATABASE_URL's schema up to date.",
    )
    migrate.add_argument("--revision", default="head", help="target revision (default: head)")
    migrate.set_defaults(run=_migrate)
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    logging.basicConfig(
        level=os.environ.get("TRAINBRIDGE_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args, environ)
    except SettingsError as exc:
        print(f"trainbridge: configuration error: {exc}", file=sys.stderr)
        return 2
    except EventLogError as exc:
        print(f"trainbridge: {exc}", file=sys.stderr)
        return 1
    return code
