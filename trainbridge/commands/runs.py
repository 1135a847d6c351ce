"""``trainbridge runs``: model runs, newest first (the ``model_runs`` view); ``--watch``
refreshes them until they have all ended."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

from trainbridge.commands.common import Subparsers
from trainbridge.commands.views import interval, keep_showing, refused, show, write


def add_parser(commands: Subparsers[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "runs",
        help="list model runs, newest first, with status, Labelbox status and durations",
        description="Model runs from the model_runs view, newest first.",
    )
    parser.add_argument("--status", default=None,
                        help="only runs in this status: complete, failed, in_progress")
    parser.add_argument("--model-type", default=None, metavar="TYPE",
                        help="only this model type")
    parser.add_argument("--since", default=None, metavar="WHEN",
                        help="only runs requested since an ISO 8601 time (UTC unless it says "
                             "otherwise) or an age such as 24h, 7d")
    parser.add_argument("--limit", type=int, default=50, metavar="N",
                        help="at most N runs (50)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--watch", action="store_true",
                        help="refresh the table until every listed run has ended (Ctrl-C "
                             "stops it)")
    parser.add_argument("--interval", type=interval, default=2.0, metavar="SECONDS",
                        help="seconds between refreshes with --watch (2)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from functools import partial

    from eventlog.settings import DatabaseSettings
    from trainbridge import operator

    database = DatabaseSettings.from_env(environ)
    try:
        where = operator.RunFilter(
            status=operator.parse_status(args.status) if args.status else None,
            model_type=args.model_type,
            since=operator.parse_since(args.since) if args.since else None,
            limit=args.limit)
    except ValueError as exc:
        return refused("runs", exc)
    if args.watch:
        if args.json:
            return refused("runs", ValueError("--watch draws a table for people; for "
                                              "scripts, poll with --json instead"))
        return keep_showing("runs", database, partial(
            operator.watch_runs, database, where, interval=args.interval, write=write,
            terminal=sys.stdout.isatty()))
    return show("runs", database,
                partial(operator.runs_command, database, where, as_json=args.json))
