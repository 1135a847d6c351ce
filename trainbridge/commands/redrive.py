"""``trainbridge redrive``: ask the reporter to retry its parked Labelbox deliveries."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from trainbridge.commands.common import Subparsers, on_migrated_database


def add_parser(commands: Subparsers[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "redrive",
        help="retry the reporter's parked Labelbox deliveries (all, or one model run's)",
        description="Mark parked deliveries for another try; a running reporter picks them "
                    "up at its next sweep (TRAINBRIDGE_REPORTER_SWEEP_SECONDS).",
    )
    parser.add_argument("--model-run", default=None, metavar="ID",
                        help="only this model run's deliveries")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    import json

    from eventlog.contract import model_run_id_of
    from eventlog.postgres import Database, pooled
    from eventlog.settings import DatabaseSettings
    from services.reporter.ledger import PostgresLedger

    database = DatabaseSettings.from_env(environ)

    async def redrive() -> list[str]:
        async with pooled(database) as pool:
            return await PostgresLedger(Database(pool)).request_redrive(args.model_run)

    streams = on_migrated_database(database, redrive)
    if args.json:
        print(json.dumps({"redriven": [model_run_id_of(s) for s in streams]}))
        return 0
    for stream_id in streams:
        print(f"redrive requested: {stream_id}")
    print(f"{len(streams)} model run(s) will be retried by the reporter's next sweep"
          if streams else "no parked deliveries")
    return 0
