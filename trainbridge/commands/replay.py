"""``trainbridge replay``: rebuild the reporter's ledger from history (the rebuild itself is
the reporter's: ``services.reporter.replay``)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from trainbridge.commands.common import Subparsers, on_migrated_database


def add_parser(commands: Subparsers[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "replay",
        help="rebuild the reporter's ledger from the audit log and the events, without "
             "calling Labelbox",
        description="Rebuild reporter_deliveries from labelbox_calls and the events the "
                    "reporter appended. Needs a role that may DELETE reporter_deliveries "
                    "(the database owner).",
    )
    parser.add_argument("--dry-run", action="store_true",
                        help="compute and report, then roll back")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    import json

    from eventlog.postgres import Database, pooled
    from eventlog.settings import DatabaseSettings
    from services.reporter.replay import ReplayReport, replay_ledger

    database = DatabaseSettings.from_env(environ)

    async def replay() -> ReplayReport:
        async with pooled(database) as pool:
            return await replay_ledger(Database(pool), dry_run=args.dry_run)

    report = on_migrated_database(database, replay)
    if args.json:
        print(json.dumps({"before": report.before, "delivered": report.delivered,
                          "parked": report.parked, "dryRun": args.dry_run}))
    else:
        verb = "would rebuild" if args.dry_run else "rebuilt"
        print(f"{verb} the reporter's ledger from history: {report.delivered} delivered, "
              f"{report.parked} parked (it held {report.before} rows); nothing was sent to "
              "Labelbox")
    return 0
