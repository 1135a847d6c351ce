"""``trainbridge audit MODEL_RUN_ID``: one run's state and timeline (``run_timeline``);
``--follow`` then prints each new entry until the run has ended."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from trainbridge.commands.common import Subparsers
from trainbridge.commands.views import interval, keep_showing, refused, show, write


def add_parser(commands: Subparsers[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "audit",
        help="one model run's events and Labelbox calls, in time order",
        description="The run's state and its timeline (the run_timeline view).",
    )
    parser.add_argument("model_run_id", metavar="MODEL_RUN_ID")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--follow", action="store_true",
                        help="then print each new timeline entry until the run has ended "
                             "(Ctrl-C stops it)")
    parser.add_argument("--interval", type=interval, default=2.0, metavar="SECONDS",
                        help="seconds between looks at the timeline with --follow (2)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from functools import partial

    from eventlog.settings import DatabaseSettings
    from trainbridge import operator

    database = DatabaseSettings.from_env(environ)
    if args.follow:
        if args.json:
            return refused("audit", ValueError("--follow prints a timeline for people; for "
                                               "scripts, poll with --json instead"))
        return keep_showing("audit", database, partial(
            operator.follow_audit, database, args.model_run_id, interval=args.interval,
            write=write))
    return show("audit", database, partial(operator.audit_command, database,
                                           args.model_run_id, as_json=args.json))
