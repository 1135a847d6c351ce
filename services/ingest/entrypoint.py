"""``trainbridge ingest``: the webhook server, with the outbox relay in the same process so an
accepted request reaches RabbitMQ within milliseconds and there is nothing else to deploy."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from litestar import Litestar

from eventlog.postgres import Database
from eventlog.settings import BrokerSettings, DatabaseSettings, RelaySettings
from services.ingest.bootstrap import postgres_adapters, wire_ingest
from services.ingest.settings import IngestSettings

logger = logging.getLogger(__name__)


async def serve(
    ingest: IngestSettings,
    database_settings: DatabaseSettings,
    broker: BrokerSettings,
    relay_settings: RelaySettings,
) -> None:
    database = await Database.open(database_settings)
    ingest_app = wire_ingest(ingest, postgres_adapters(database), broker=broker,
                             relay_settings=relay_settings)
    relay = ingest_app.relay
    assert relay is not None
    failed: list[BaseException] = []

    def relay_ended(task: asyncio.Task[None]) -> None:
        # The relay ends early only on a refusal (MisconfiguredError): stop serving, since
        # accepted requests would never be published.
        if not task.cancelled() and task.exception() is not None:
            failed.append(task.exception())  # type: ignore[arg-type]
            logger.critical("relay stopped: %s; shutting down", task.exception())
            server.should_exit = True

    @asynccontextmanager
    async def relaying(_: Litestar) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        task.add_done_callback(relay_ended)
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(task, return_exceptions=True)
            await database.close()
            logger.info("relay stopped; database pool closed")

    server = uvicorn.Server(
        uvicorn.Config(
            ingest_app.app([relaying]),
            host=ingest.host,
            port=ingest.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=30,
        )
    )
    # uvicorn handles SIGTERM/SIGINT: it stops accepting, finishes in-flight requests, runs
    # the lifespan's shutdown (the relay's last pass), then exits.
    await server.serve()
    if failed:
        raise failed[0]
