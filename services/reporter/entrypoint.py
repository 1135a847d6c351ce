"""``trainbridge reporter``: the only process that holds the Labelbox API key. It consumes
the run events as wake-ups, reconciles each model run against its ledger, sweeps the log as
a backstop, relays its own events, and serves ``/metrics``."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

from eventlog import RecordedEvent
from eventlog.amqp import sleep_unless
from eventlog.consumer import EventConsumer, Subscription
from eventlog.contract import (
    DATA_EXPORT_REQUESTED,
    MODEL_EVALUATED,
    PREDICTIONS_PRODUCED,
    STAGE_STARTED,
    TRAINING_COMPLETED,
    TRAINING_FAILED,
    TRAINING_PROGRESSED,
    TRAINING_REQUESTED,
)
from eventlog.errors import MisconfiguredError
from eventlog.postgres import PostgresEventStore, PostgresOutbox, create_pool
from eventlog.relay import OutboxRelay
from eventlog.runner import run_together
from eventlog.settings import BrokerSettings, DatabaseSettings, RelaySettings
from services.reporter.audit import PostgresAuditLog
from services.reporter.calls import LabelboxCalls
from services.reporter.deliverer import Deliverer
from services.reporter.labelbox_port import LabelboxPort
from services.reporter.ledger import Ledger
from services.reporter.metrics import ReporterMetrics
from services.reporter.reconciler import Reconciler
from services.reporter.settings import ReporterSettings
from services.reporter.sweeper import Sweeper

logger = logging.getLogger(__name__)

CONSUMERS = ("reporter", "reporter-acknowledge")
"""The reporter's queues (``<namespace>.<consumer>``): the main lane and the acknowledgement
lane."""
ACKNOWLEDGED = (TRAINING_REQUESTED,)
"""Wake the acknowledgement lane (its own queue, so a backlog of other runs' work in the
main queue's prefetch window never holds a new run's first status back)."""
SUBSCRIBED = (DATA_EXPORT_REQUESTED, STAGE_STARTED, TRAINING_PROGRESSED, MODEL_EVALUATED,
              PREDICTIONS_PRODUCED, TRAINING_COMPLETED, TRAINING_FAILED)


def sdk_port(settings: ReporterSettings) -> LabelboxPort:
    # Imported here: `import labelbox` costs ~0.4 s and ~600 modules.
    from services.reporter.sdk_adapter import SdkLabelbox, single_attempt_client

    threads = settings.policy.threads + settings.acknowledge_concurrency
    return SdkLabelbox(single_attempt_client(settings.api_key, settings.endpoint,
                                             settings.call_timeout, threads),
                       settings.call_timeout)


async def _watch_backlog(outbox: PostgresOutbox, metrics: ReporterMetrics,
                         stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            metrics.relay_backlog.set(await outbox.backlog())
        except Exception as exc:
            logger.warning("outbox backlog unavailable: %s", exc)
        await sleep_unless(stop, 15.0)


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
    database: DatabaseSettings,
    broker: BrokerSettings,
    relay_settings: RelaySettings,
    stop: asyncio.Event,
    port: LabelboxPort | None = None,
) -> None:
    # Each run being reconciled holds a connection for its lock; statements share the pool.
    runs = reporter.concurrency + reporter.acknowledge_concurrency
    pool = await create_pool(database)
    locks = await create_pool(replace(database, pool_size=runs))
    metrics = ReporterMetrics()
    calls = LabelboxCalls(PostgresAuditLog(pool, reporter.reporter_id), reporter.policy,
                          metrics, acknowledgement_threads=reporter.acknowledge_concurrency)
    http = None
    try:
        store = PostgresEventStore(pool)
        outbox = PostgresOutbox(pool)
        relay = OutboxRelay(outbox, broker, relay_settings)
        store.on_commit(relay.wake)
        ledger = Ledger(pool, locks=locks)
        deliverer = Deliverer(port or sdk_port(reporter), calls, store, reporter)
        reconciler = Reconciler(store, ledger, deliverer, metrics,
                                concurrency=reporter.concurrency,
                                acknowledge_concurrency=reporter.acknowledge_concurrency)

        async def wake_up(event: RecordedEvent) -> None:
            await reconciler.reconcile(event.stream_id, "message")

        async def acknowledge(event: RecordedEvent) -> None:
            await reconciler.acknowledge(event.stream_id)

        consumer = EventConsumer(store, broker,
                                 Subscription(CONSUMERS[0], SUBSCRIBED, wake_up=wake_up))
        acknowledger = EventConsumer(
            store, broker,
            Subscription(CONSUMERS[1], ACKNOWLEDGED, wake_up=acknowledge))
        if reporter.metrics_port:
            http = serve_metrics(reporter, metrics)
        sweeper = Sweeper(store, ledger, reconciler, metrics)
        logger.info("reporter %s delivering to %s", reporter.reporter_id, reporter.endpoint)
        await run_together(
            stop, consumer.run(stop), acknowledger.run(stop), relay.run(stop),
            sweeper.run(stop, reporter.sweep_interval), _watch_backlog(outbox, metrics, stop),
        )
    finally:
        if http is not None:
            http.shutdown()
        calls.close()
        await locks.close()
        await pool.close()
