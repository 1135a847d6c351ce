"""``trainbridge trainer``: announces its pipelines, consumes TrainingRequested and
DataExported, trains queued jobs in child processes, relays its own events, and serves
``/healthz`` and ``/metrics``."""

from __future__ import annotations

import asyncio
import logging

import httpx

from eventlog.amqp import wait_first
from eventlog.consumer import EventConsumer, Subscription
from eventlog.model_types import PostgresModelTypeCatalog
from eventlog.postgres import PostgresEventStore, PostgresOutbox, create_pool
from eventlog.relay import OutboxRelay
from eventlog.runner import run_together
from eventlog.settings import BrokerSettings, DatabaseSettings, RelaySettings
from services.trainer.executor import ChildProcessExecutor
from services.trainer.handlers import SUBSCRIBED, make_handler
from services.trainer.health import TrainerHealth, serve_health
from services.trainer.jobs import TrainingJobs
from services.trainer.metrics import TrainerMetrics
from services.trainer.registry import announce, installed, load_pipelines
from services.trainer.settings import TrainerSettings
from services.trainer.worker import TrainingWorker

logger = logging.getLogger(__name__)


async def serve(
    trainer: TrainerSettings,
    database: DatabaseSettings,
    broker: BrokerSettings,
    relay_settings: RelaySettings,
    stop: asyncio.Event,
) -> None:
    pipelines = installed(load_pipelines())
    pool = await create_pool(database)
    metrics = TrainerMetrics()
    health_server = None
    try:
        store = PostgresEventStore(pool)
        relay = OutboxRelay(PostgresOutbox(pool), broker, relay_settings)
        store.on_commit(relay.wake)
        consumer = EventConsumer(
            store, broker, Subscription("trainer", SUBSCRIBED, make_handler(pipelines))
        )
        health = TrainerHealth(stop, consumer)
        if trainer.metrics_port:  # from now on: 503 until consuming and working
            health_server = serve_health(trainer, health, metrics.registry)
        consuming = asyncio.create_task(consumer.run(stop))
        # Announce only once our queue exists: ingest accepts a model type only after its
        # announcement, so no TrainingRequested can be published before a queue takes it.
        # (The consumer may also end first: refused by the broker.)
        await wait_first(consumer.consuming.wait(), stop.wait(), asyncio.shield(consuming))
        if consuming.done():
            await consuming
        if not stop.is_set():
            await announce(PostgresModelTypeCatalog(pool), trainer.trainer_id, pipelines)
            logger.info("trainer %s can train: %s", trainer.trainer_id,
                        ", ".join(sorted(pipelines)))
        async with httpx.AsyncClient(follow_redirects=True) as http:
            worker = TrainingWorker(
                store, TrainingJobs(pool, trainer.trainer_id, trainer.lease_seconds),
                ChildProcessExecutor(memory_limit=trainer.memory_limit_bytes), pipelines, trainer,
                http, metrics,
            )
            health.worker = asyncio.create_task(worker.run(stop))
            await run_together(stop, relay.run(stop), health.worker, consuming)
    finally:
        if health_server is not None:
            health_server.shutdown()
            health_server.server_close()
        await pool.close()
