"""``trainbridge trainer``: announce the pipelines, consume training events and train."""

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
        "trainer",
        help="announce the pipelines, consume training events and train",
        description="The trainer. Pipelines come from the trainbridge.pipelines entry points.",
    )
    from services.trainer.settings import METRICS_PORT

    add_metrics_port_option(parser, METRICS_PORT, "/healthz and /metrics")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    import asyncio

    from eventlog.runner import run_until_signalled
    from eventlog.telemetry import TracingSettings
    from services.trainer.entrypoint import serve
    from services.trainer.settings import METRICS_PORT, TrainerSettings

    trainer = with_metrics_port(TrainerSettings.from_env(environ), args, METRICS_PORT)
    database, broker, relay = service_settings(environ, "trainer")
    tracing = TracingSettings.from_env(environ)
    starting("trainer", database, broker, trainer_id=trainer.trainer_id,
             artifacts=redact(trainer.artifacts_url), lease_seconds=trainer.lease_seconds,
             memory_limit_bytes=trainer.memory_limit_bytes,
             health=f"{trainer.metrics_host}:{trainer.metrics_port}"
             if trainer.metrics_port else "off",
             traces=tracing.shown)
    with traced("trainer", tracing):
        if not dependencies_ready(database, broker):
            return 0
        asyncio.run(run_until_signalled(
            lambda stop: serve(trainer, database, broker, relay, stop)))
    return 0
