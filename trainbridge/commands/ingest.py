"""``trainbridge ingest``: serve Labelbox's webhook and relay its events."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from trainbridge.commands.common import (
    Subparsers,
    dependencies_ready,
    service_settings,
    starting,
)


def add_parser(commands: Subparsers[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "ingest",
        help="serve Labelbox's webhook (GET /models, POST /model_run) and relay events",
        description="The webhook receiver. Needs TRAINBRIDGE_WEBHOOK_SECRET.",
    )
    from services.ingest.settings import IngestSettings

    listen = IngestSettings.__dataclass_fields__
    host, port = listen["host"].default, listen["port"].default
    parser.add_argument("--host", default=host, help=f"address to listen on ({host})")
    parser.add_argument("--port", type=int, default=port, help=f"port to listen on ({port})")
    from services.ingest.settings import METRICS_PORT

    parser.add_argument("--metrics-port", type=int, default=None,
                        help=f"port of /metrics, on --host ({METRICS_PORT.name}, "
                             f"{METRICS_PORT.default}; 0 turns it off)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    import asyncio
    from dataclasses import replace

    from services.ingest.entrypoint import serve
    from services.ingest.settings import METRICS_PORT, IngestSettings

    ingest = replace(IngestSettings.from_env(environ), host=args.host, port=args.port)
    if args.metrics_port is not None:  # within the setting's bounds, like the variable
        ingest = replace(ingest, metrics_port=METRICS_PORT.parse(str(args.metrics_port)))
    database, broker, relay = service_settings(environ)
    starting("ingest", database, broker, listen=f"{ingest.host}:{ingest.port}",
             webhook_secrets=len(ingest.secrets), max_body_bytes=ingest.max_body_bytes,
             metrics=f"{ingest.host}:{ingest.metrics_port}" if ingest.metrics_port else "off")
    if not dependencies_ready(database, broker):
        return 0
    asyncio.run(serve(ingest, database, broker, relay))
    return 0
