"""``trainbridge`` — one entry point for every service and operator command.

Settings are read from the environment here, once, and passed down. Each subcommand is a
module of ``trainbridge.commands`` (its ``add_parser`` and ``run``) that imports its service
lazily, so ``trainbridge migrate`` never loads the Labelbox SDK."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence

from eventlog.amqp import quiet_driver_logs
from eventlog.errors import EventLogError, MisconfiguredError
from eventlog.redaction import RedactingFilter, known_secrets, mask
from eventlog.settings import SettingsError, log_level
from trainbridge.commands import (
    audit,
    dev,
    fake_labelbox,
    ingest,
    migrate,
    parked,
    redrive,
    replay,
    reporter,
    retry,
    runs,
    trainer,
    verify,
)

COMMANDS = (migrate, ingest, trainer, reporter, dev, verify, retry, replay, redrive, runs,
            audit, parked, fake_labelbox)
"""In the order ``trainbridge --help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trainbridge",
        description="Event-sourced backend behind Labelbox's 'Train Model' button.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    """Run one command. Every configuration mistake ends here as one line on stderr and exit
    status 2 (a wrong setting, a database or broker that refuses our credentials, a schema
    that needs `trainbridge migrate`); other known failures as one line and status 1."""
    secrets = known_secrets(environ)
    try:
        level = log_level(environ)
    except SettingsError as exc:
        print(f"trainbridge: configuration error: {mask(str(exc), secrets)}", file=sys.stderr)
        return 2
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    redacting = RedactingFilter(secrets)
    for handler in logging.getLogger().handlers:
        for previous in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(previous)  # main() called again in the same process
        handler.addFilter(redacting)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    quiet_driver_logs()
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args, environ)
    except (SettingsError, MisconfiguredError) as exc:
        print(f"trainbridge: configuration error: {mask(str(exc), secrets)}", file=sys.stderr)
        return 2
    except EventLogError as exc:
        print(f"trainbridge: {mask(str(exc), secrets)}", file=sys.stderr)
        return 1
    return code
