"""``trainbridge dev``: the whole system as child processes, without Docker."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from trainbridge.commands.common import Subparsers


def add_parser(commands: Subparsers[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "dev",
        help="migrate, then run ingest, trainer and reporter (and with --demo the fake "
             "Labelbox and a signed sample run) as child processes; Ctrl-C stops them all",
        description="The whole system without Docker, against TRAINBRIDGE_DATABASE_URL and "
                    "TRAINBRIDGE_AMQP_URL. Children that die are restarted.",
    )
    parser.add_argument("--port", type=int, default=8000, help="ingest's port (8000)")
    parser.add_argument("--demo", action="store_true",
                        help="add the fake Labelbox and send a signed sample request")
    parser.add_argument("--fake-port", type=int, default=8081, help="the fake Labelbox's port")
    parser.add_argument("--once", action="store_true",
                        help="with --demo: stop once the demo run ends (exit 0 on COMPLETE)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from trainbridge.dev import DevOptions
    from trainbridge.dev import main as dev

    return dev(DevOptions(port=args.port, demo=args.demo, fake_port=args.fake_port,
                          once=args.once), environ)
