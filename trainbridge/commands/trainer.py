"""``trainbridge trainer``: announce the pipelines, consume training events and train."""

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
        "trainer",
        help="announce the pipelines, consume training events and train",
        description="The trainer. Pipelines come from the trainbridge.pipelines entry points.",
    )
    from services.trainer.settings import METRICS_PORT

    parser.add_argument("--metrics-port", type=int, default=None,
                        help=f"port of /healthz and /metrics ({METRICS_PORT.name}, "
                             f"{METRICS_PORT.default}; 0 turns them off)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    import asyncio
    from dataclasses import replace

    from eventlog.runner import run_until_signalled
    from services.trainer.entrypoint import serve
    from services.trainer.settings import METRICS_PORT, TrainerSettings

    trainer = TrainerSettings.from_env(environ)
    if args.metrics_port is not None:  # within the setting's bounds, like the variable
        trainer = replace(trainer, metrics_port=METRICS_PORT.parse(str(args.metrics_port)))
    database, broker, relay = service_settings(environ)
    starting("trainer", database, broker, trainer_id=trainer.trainer_id,
             artifacts=redact(trainer.artifacts_url), lease_seconds=trainer.lease_seconds,
             memory_limit_bytes=trainer.memory_limit_bytes,
             health=f"{trainer.metrics_host}:{trainer.metrics_port}"
             if trainer.metrics_port else "off")
    if not dependencies_ready(database, broker):
        return 0
    asyncio.run(run_until_signalled(lambda stop: serve(trainer, database, broker, relay, stop)))
    return 0
