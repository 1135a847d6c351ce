"""``trainbridge retry MODEL_RUN_ID``: start a new attempt of a failed run (the logic is in
``trainbridge.retry``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

from trainbridge.commands.common import Subparsers, on_migrated_database


def add_parser(commands: Subparsers[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "retry",
        help="start a new attempt of a failed model run (no new click in Labelbox needed)",
        description="Append a new TrainingRequested attempt for a failed run, recording who "
                    "asked and why; the trainer and the reporter take it from there.",
    )
    parser.add_argument("model_run_id", metavar="MODEL_RUN_ID")
    parser.add_argument("--reason", required=True, help="why (recorded with the attempt)")
    parser.add_argument("--by", default=None, help="who asks (default: $USER)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    import getpass
    import json

    from eventlog.postgres import PostgresEventStore, pooled
    from eventlog.settings import DatabaseSettings
    from trainbridge.retry import RetryRefusedError, retry_run

    database = DatabaseSettings.from_env(environ)
    by = args.by or environ.get("USER") or getpass.getuser()

    async def retry() -> int:
        try:
            async with pooled(database) as pool:
                retried = await retry_run(PostgresEventStore(pool), args.model_run_id, by=by,
                                          reason=args.reason)
        except RetryRefusedError as exc:
            print(f"trainbridge retry: {exc}", file=sys.stderr)
            return 1
        if args.json:
            print(json.dumps({"modelRunId": retried.model_run_id, "attempt": retried.attempt,
                              "eventId": str(retried.event_id), "requestedBy": by,
                              "reason": args.reason}))
        else:
            print(f"model run {retried.model_run_id}: attempt {retried.attempt} requested by "
                  f"{by} ({args.reason})")
        return 0

    return on_migrated_database(database, retry)
