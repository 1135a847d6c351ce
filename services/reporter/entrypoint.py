"""``trainbridge reporter``: the only process that holds the Labelbox API key. It consumes
the run events as wake-ups, reconciles each model run against its ledger, sweeps the log as
a backstop, relays its own events, and serves ``/metrics``."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from dataclasses import replace
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

from eventlog.errors import MisconfiguredError
from eventlog.postgres import Database
from eventlog.runner import run_together
from eventlog.settings import BrokerSettings, DatabaseSettings, RelaySettings
from services.reporter.bootstrap import (
    ACKNOWLEDGED,
    CONSUMERS,
    SUBSCRIBED,
    postgres_adapters,
    sdk_port,
    wire_reporter,
)
from services.reporter.labelbox_port import LabelboxPort
from services.reporter.metrics import ReporterMetrics
from services.reporter.settings import ReporterSettings

__all__ = ["ACKNOWLEDGED", "CONSUMERS", "SUBSCRIBED", "sdk_port", "serve", "serve_metrics"]

logger = logging.getLogger(__name__)


def serve_metrics(reporter: ReporterSettings, metrics: ReporterMetrics) -> WSGIServer:
    """Serve ``/metrics``; a port already taken is a configuration error (one line, exit 2)."""
    try:
        http, _ = start_http_server(reporter.metrics_port, reporter.metrics_host,
                                    registry=metrics.registry)
    except OSError as exc:
        raise MisconfiguredError(
            f"TRAINBRIDGE_REPORTER_METRICS_PORT={reporter.metrics_port}: cannot serve /metrics "
            f"on {reporter.metrics_host}:{reporter.metrics_port} ({exc.strerror}); another "
            "reporter on this host? Choose a free port (--metrics-port), or 0 to turn "
            "/metrics off") from None
    logger.info("reporter metrics on %s:%d/metrics", reporter.metrics_host,
                reporter.metrics_port)
    return http


async def serve(
    reporter: ReporterSettings,
    database_settings: DatabaseSettings,
    broker: BrokerSettings,
    relay_settings: RelaySettings,
    stop: asyncio.Event,
    port: LabelboxPort | None = None,
) -> None:
    async with AsyncExitStack() as resources:  # closed in reverse order
        database = await Database.open(database_settings)
        resources.push_async_callback(database.close)
        # Each run being reconciled holds a connection for its lock; statements share the
        # pool.
        runs = reporter.concurrency + reporter.acknowledge_concurrency
        locks = await Database.open(replace(database_settings, pool_size=runs))
        resources.push_async_callback(locks.close)
        adapters = postgres_adapters(reporter, database, locks=locks)
        built = wire_reporter(reporter, adapters, port or sdk_port(reporter), broker=broker,
                              relay_settings=relay_settings)
        resources.callback(built.calls.close)
        assert built.messaging is not None and adapters.outbox is not None
        messaging = built.messaging
        if reporter.metrics_port:
            resources.callback(serve_metrics(reporter, built.metrics).shutdown)
        logger.info("reporter %s delivering to %s", reporter.reporter_id, reporter.endpoint)
        await run_together(
            stop, messaging.consumer.run(stop), messaging.acknowledger.run(stop),
            messaging.relay.run(stop), built.sweeper.run(stop, reporter.sweep_interval),
            built.metrics.relay_backlog.watch(adapters.outbox.backlog, stop),
        )
