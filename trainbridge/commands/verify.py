"""``trainbridge verify``: recompute the hash chains of the event log and the audit log."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

from trainbridge.commands.common import Subparsers, on_migrated_database


def add_parser(commands: Subparsers[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "verify",
        help="recompute the hash chains of the event log and the Labelbox audit log and "
             "report rows altered or removed behind the append-only triggers (exit 1)",
        description="Exit 0 when every chain is intact, 1 when anything is reported. "
                    "What it cannot see, and anchoring: docs/architecture.md, 'Tamper evidence'.",
    )
    parser.add_argument("--stream", default=None, metavar="STREAM_ID",
                        help="only this stream and the model runs it called Labelbox for")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--print-anchor", action="store_true",
                        help="if intact, print every chain's head (position and hash) as "
                             "JSON, to keep outside the database")
    parser.add_argument("--anchor", default=None, metavar="FILE",
                        help="also check that the heads in FILE (from --print-anchor) are "
                             "still there, unchanged")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    import asyncio
    import json
    from pathlib import Path

    from eventlog.settings import DatabaseSettings
    from trainbridge import verify

    database = DatabaseSettings.from_env(environ)
    anchor = None
    if args.anchor is not None:
        try:
            anchor = verify.parse_anchor(Path(args.anchor).read_text(encoding="utf-8"))
        except (OSError, verify.AnchorError) as exc:
            print(f"trainbridge verify: {args.anchor}: {exc}", file=sys.stderr)
            return 2
    result = on_migrated_database(database,
                                  lambda: verify.verify(database, args.stream, anchor))
    if args.print_anchor:
        if not result.intact:  # never anchor a log that is already broken
            verify.print_report(result, sys.stderr)
            return 1
        document = asyncio.run(verify.anchor_document(database, args.stream))
        print(json.dumps(document, indent=1, sort_keys=True))
        return 0
    if args.json:
        print(json.dumps(result.as_json(), indent=2))
    else:
        verify.print_report(result, sys.stdout)
    return 0 if result.intact else 1
