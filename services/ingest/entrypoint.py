"""``trainbridge ingest``: the webhook server, with the outbox relay in the same process so an
accepted request reaches RabbitMQ within milliseconds and there is nothing else to deploy.
``/metrics`` is served on a port of its own (``TRAINBRIDGE_INGEST_METRICS_PORT``), so the
public webhook port exposes nothing but the webhook, health and readiness."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from wsgiref.simple_server import WSGIServer

import uvicorn
from litestar import Litestar
from prometheus_client import CollectorRegistry, start_http_server

from eventlog import telemetry
from eventlog.errors import MisconfiguredError
from eventlog.postgres import Database
from eventlog.settings import BrokerSettings, DatabaseSettings, RelaySettings
from services.ingest.bootstrap import postgres_adapters, wire_ingest
from services.ingest.settings import IngestSettings

logger = logging.getLogger(__name__)


def serve_metrics(ingest: IngestSettings, registry: CollectorRegistry) -> WSGIServer:
    """Serve ``/metrics``; a port already taken is a configuration error (one line, exit 2)."""
    try:
        http, _ = start_http_server(ingest.metrics_port, ingest.host, registry=registry)
    except OSError as exc:
        raise MisconfiguredError(
            f"TRAINBRIDGE_INGEST_METRICS_PORT={ingest.metrics_port}: cannot serve /metrics on "
            f"{ingest.host}:{ingest.metrics_port} ({exc.strerror}); another ingest on this "
            "host? Choose a free port (--metrics-port), or 0 to turn /metrics off") from None
    logger.info("ingest metrics on %s:%d/metrics", ingest.host, ingest.metrics_port)
    return http


async def serve(
    ingest: IngestSettings,
    database_settings: DatabaseSettings,
    broker: BrokerSettings,
    relay_settings: RelaySettings,
) -> None:
    database = await Database.open(database_settings)
    ingest_app = wire_ingest(ingest, postgres_adapters(database), broker=broker,
                             relay_settings=relay_settings)
    try:
        metrics = (serve_metrics(ingest, ingest_app.deps.metrics.registry)
                   if ingest.metrics_port else None)
    except MisconfiguredError:
        await database.close()
        raise
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
        backlog = asyncio.create_task(ingest_app.watch_backlog(stop))
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(task, backlog, return_exceptions=True)
            await database.close()
            logger.info("relay stopped; database pool closed")
            # uvicorn then re-raises the SIGTERM it caught: the spans must leave before.
            await asyncio.to_thread(telemetry.flush)

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
    try:
        await server.serve()
    finally:
        if metrics is not None:
            metrics.shutdown()
            metrics.server_close()
    if failed:
        raise failed[0]
