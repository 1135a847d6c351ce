"""``trainbridge parked``: Labelbox deliveries waiting for an operator."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from trainbridge.commands.common import Subparsers
from trainbridge.commands.views import show


def add_parser(commands: Subparsers[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "parked",
        help="Labelbox deliveries waiting for an operator, with their errors",
        description="Parked deliveries (and those whose redrive is pending); retry them "
                    "with `trainbridge redrive`.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from functools import partial

    from eventlog.settings import DatabaseSettings
    from trainbridge import operator

    database = DatabaseSettings.from_env(environ)
    return show("parked", database,
                partial(operator.parked_command, database, as_json=args.json))
