"""``trainbridge ingest``: serve Labelbox's webhook and relay its events."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from trainbridge.commands.common import (
    Subparsers,
    add_metrics_port_option,
    dependencies_ready,
    service_settings,
    starting,
    traced,
    with_metrics_port,
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

    add_metrics_port_option(parser, METRICS_PORT, "/metrics, on --host")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    import asyncio
    from dataclasses import replace

    from eventlog.telemetry import TracingSettings
    from services.ingest.entrypoint import serve
    from services.ingest.settings import METRICS_PORT, IngestSettings

    ingest = with_metrics_port(
        replace(IngestSettings.from_env(environ), host=args.host, port=args.port), args,
        METRICS_PORT)
    database, broker, relay = service_settings(environ, "ingest")
    tracing = TracingSettings.from_env(environ)
    starting("ingest", database, broker, listen=f"{ingest.host}:{ingest.port}",
             webhook_secrets=len(ingest.secrets), max_body_bytes=ingest.max_body_bytes,
             metrics=f"{ingest.host}:{ingest.metrics_port}" if ingest.metrics_port else "off",
             traces=tracing.shown)
    with traced("ingest", tracing):
        if not dependencies_ready(database, broker):
            return 0
        asyncio.run(serve(ingest, database, broker, relay))
    return 0
