"""``trainbridge reporter``: deliver run status, metadata, exports and predictions to
Labelbox (the only command that imports the Labelbox SDK)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from eventlog.redaction import redact
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
        "reporter",
        help="deliver run status, metadata, exports and predictions to Labelbox",
        description="The only component that calls Labelbox. Needs LABELBOX_API_KEY.",
    )
    from services.reporter.settings import METRICS_PORT

    add_metrics_port_option(parser, METRICS_PORT, "/metrics")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    import asyncio

    from eventlog.runner import run_until_signalled
    from eventlog.telemetry import TracingSettings
    from services.reporter.entrypoint import serve
    from services.reporter.settings import METRICS_PORT, ReporterSettings

    reporter = with_metrics_port(ReporterSettings.from_env(environ), args, METRICS_PORT)
    database, broker, relay = service_settings(environ, "reporter")
    tracing = TracingSettings.from_env(environ)
    starting("reporter", database, broker, reporter_id=reporter.reporter_id,
             labelbox=redact(reporter.endpoint), artifacts=redact(reporter.artifacts_url),
             metrics=f"{reporter.metrics_host}:{reporter.metrics_port}"
             if reporter.metrics_port else "off",
             concurrency=reporter.concurrency,
             traces=tracing.shown)
    with traced("reporter", tracing):
        if not dependencies_ready(database, broker):
            return 0
        asyncio.run(run_until_signalled(
            lambda stop: serve(reporter, database, broker, relay, stop)))
    return 0
