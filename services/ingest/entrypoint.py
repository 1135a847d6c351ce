"""``trainbridge ingest``: the webhook server, with the outbox relay in the same process so an
accepted request reaches RabbitMQ within milliseconds and there is nothing else to deploy."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from litestar import Litestar

from eventlog.model_types import PostgresModelTypeCatalog
from eventlog.postgres import PostgresEventStore, PostgresOutbox, create_pool, ping
from eventlog.relay import OutboxRelay
from eventlog.settings import BrokerSettings, DatabaseSettings, RelaySettings
from services.ingest.app import IngestDependencies, create_app
from services.ingest.metrics import IngestMetrics, counting_requests
from services.ingest.settings import IngestSettings

logger = logging.getLogger(__name__)


async def serve(
    ingest: IngestSettings,
    database: DatabaseSettings,
    broker: BrokerSettings,
    relay_settings: RelaySettings,
) -> None:
    pool = await create_pool(database)
    store = PostgresEventStore(pool)
    outbox = PostgresOutbox(pool)
    relay = OutboxRelay(outbox, broker, relay_settings)
    store.on_commit(relay.wake)

    async def database_ready() -> str | None:
        try:
            await ping(pool)
        except Exception as exc:
            return f"database unreachable: {exc}"
        return None

    async def broker_ready() -> str | None:
        return None if relay.connected.is_set() else "not connected to RabbitMQ"

    metrics = IngestMetrics()
    deps = IngestDependencies(
        settings=ingest,
        store=store,
        catalog=PostgresModelTypeCatalog(pool),
        metrics=metrics,
        readiness={"database": database_ready, "broker": broker_ready},
        backlog=outbox.backlog,
    )
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
            await pool.close()
            logger.info("relay stopped; database pool closed")

    server = uvicorn.Server(
        uvicorn.Config(
            counting_requests(create_app(deps, [relaying]), metrics),  # type: ignore[arg-type]
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
