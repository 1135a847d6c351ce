"""``trainbridge audit MODEL_RUN_ID``: one run's state and timeline (``run_timeline``)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from trainbridge.commands.common import Subparsers
from trainbridge.commands.views import show


def add_parser(commands: Subparsers[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "audit",
        help="one model run's events and Labelbox calls, in time order",
        description="The run's state and its timeline (the run_timeline view).",
    )
    parser.add_argument("model_run_id", metavar="MODEL_RUN_ID")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from functools import partial

    from eventlog.settings import DatabaseSettings
    from trainbridge import operator

    database = DatabaseSettings.from_env(environ)
    return show("audit", database, partial(operator.audit_command, database,
                                           args.model_run_id, as_json=args.json))
