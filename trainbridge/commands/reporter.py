"""``trainbridge reporter``: deliver run status, metadata, exports and predictions to
Labelbox (the only command that imports the Labelbox SDK)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from eventlog.redaction import redact
from trainbridge.commands.common import (
    Subparsers,
    dependencies_ready,
    service_settings,
    starting,
)


def add_parser(commands: Subparsers[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "reporter",
        help="deliver run status, metadata, exports and predictions to Labelbox",
        description="The only component that calls Labelbox. Needs LABELBOX_API_KEY.",
    )
    from services.reporter.settings import METRICS_PORT

    parser.add_argument("--metrics-port", type=int, default=None,
                        help=f"port of /metrics ({METRICS_PORT.name}, {METRICS_PORT.default}; "
                             "0 turns it off)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    import asyncio
    from dataclasses import replace

    from eventlog.runner import run_until_signalled
    from services.reporter.entrypoint import serve
    from services.reporter.settings import METRICS_PORT, ReporterSettings

    reporter = ReporterSettings.from_env(environ)
    if args.metrics_port is not None:  # within the setting's bounds, like the variable
        reporter = replace(reporter, metrics_port=METRICS_PORT.parse(str(args.metrics_port)))
    database, broker, relay = service_settings(environ)
    starting("reporter", database, broker, reporter_id=reporter.reporter_id,
             labelbox=redact(reporter.endpoint), artifacts=redact(reporter.artifacts_url),
             metrics=f"{reporter.metrics_host}:{reporter.metrics_port}"
             if reporter.metrics_port else "off",
             concurrency=reporter.concurrency)
    if not dependencies_ready(database, broker):
        return 0
    asyncio.run(run_until_signalled(lambda stop: serve(reporter, database, broker, relay, stop)))
    return 0
