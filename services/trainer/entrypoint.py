"""``trainbridge trainer``: announces its pipelines, consumes TrainingRequested and
DataExported, trains queued jobs in child processes (up to ``concurrency`` at once, forked
from a warm forkserver), relays its own events, and serves ``/healthz`` and ``/metrics``."""

from __future__ import annotations

import asyncio
import logging

import httpx

from eventlog.amqp import wait_first
from eventlog.postgres import Database
from eventlog.runner import run_together
from eventlog.settings import BrokerSettings, DatabaseSettings, RelaySettings
from services.trainer.bootstrap import postgres_adapters, wire_trainer
from services.trainer.executor import ChildProcessExecutor
from services.trainer.health import TrainerHealth, serve_health
from services.trainer.registry import announce
from services.trainer.settings import TrainerSettings

logger = logging.getLogger(__name__)


async def serve(
    settings: TrainerSettings,
    database_settings: DatabaseSettings,
    broker: BrokerSettings,
    relay_settings: RelaySettings,
    stop: asyncio.Event,
) -> None:
    executor = ChildProcessExecutor(memory_limit=settings.memory_limit_bytes)
    # The forkserver imports the pipelines' libraries while the trainer starts up.
    await asyncio.to_thread(executor.warm_up)
    database = await Database.open(database_settings)
    health_server = None
    try:
        async with httpx.AsyncClient(follow_redirects=True) as http:
            adapters = postgres_adapters(settings, database)
            trainer = wire_trainer(settings, adapters, http, broker=broker,
                                   relay_settings=relay_settings, executor=executor)
            assert trainer.messaging is not None and adapters.outbox is not None
            outbox = adapters.outbox
            relay, consumer = trainer.messaging.relay, trainer.messaging.consumer
            health = TrainerHealth(stop, consumer)
            if settings.metrics_port:  # from now on: 503 until consuming and working
                health_server = serve_health(settings, health, trainer.metrics.registry)
            consuming = asyncio.create_task(consumer.run(stop))
            # Announce only once our queue exists: ingest accepts a model type only after its
            # announcement, so no TrainingRequested can be published before a queue takes
            # it. (The consumer may also end first: refused by the broker.)
            await wait_first(consumer.consuming.wait(), stop.wait(), asyncio.shield(consuming))
            if consuming.done():
                await consuming
            if not stop.is_set():
                await announce(trainer.catalog, settings.trainer_id, trainer.pipelines)
                logger.info("trainer %s can train: %s", settings.trainer_id,
                            ", ".join(sorted(trainer.pipelines)))
            health.worker = asyncio.create_task(trainer.worker.run(stop))
            await run_together(stop, relay.run(stop), health.worker, consuming,
                               trainer.metrics.relay_backlog.watch(outbox.backlog, stop))
    finally:
        if health_server is not None:
            health_server.shutdown()
            health_server.server_close()
        await database.close()
