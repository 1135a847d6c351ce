"""Ingest's wiring, in one place: ``trainbridge ingest`` and the tests build it here."""

from __future__ import annotations

from dataclasses import dataclass

from eventlog.model_types import PostgresModelTypeCatalog
from eventlog.postgres import Database, PostgresEventStore, PostgresOutbox
from eventlog.relay import OutboxRelay
from eventlog.settings import BrokerSettings, RelaySettings
from services.ingest.app import IngestDependencies, ReadinessCheck
from services.ingest.metrics import IngestMetrics
from services.ingest.settings import IngestSettings


@dataclass
class Ingest:
    """Ingest's parts, wired: what the web app depends on, and the relay (when built with a
    broker) that the app's lifespan runs."""

    deps: IngestDependencies
    relay: OutboxRelay | None


def build_ingest(
    settings: IngestSettings,
    database: Database,
    *,
    broker: BrokerSettings | None = None,
    relay_settings: RelaySettings | None = None,
    metrics: IngestMetrics | None = None,
) -> Ingest:
    """Database → store → outbox → relay (woken on commit) → the app's dependencies, with a
    readiness check per backend. Without ``broker`` nothing is relayed."""
    store = PostgresEventStore(database.pool)
    outbox = PostgresOutbox(database.pool)

    async def database_ready() -> str | None:
        try:
            await database.ping()
        except Exception as exc:
            return f"database unreachable: {exc}"
        return None

    readiness: dict[str, ReadinessCheck] = {"database": database_ready}
    relay = None
    if broker is not None:
        if relay_settings is None:
            raise TypeError("ingest with a broker needs relay_settings too")
        relay = OutboxRelay(outbox, broker, relay_settings)
        store.on_commit(relay.wake)
        connected = relay.connected

        async def broker_ready() -> str | None:
            return None if connected.is_set() else "not connected to RabbitMQ"

        readiness["broker"] = broker_ready
    deps = IngestDependencies(
        settings=settings,
        store=store,
        catalog=PostgresModelTypeCatalog(database),
        metrics=metrics or IngestMetrics(),
        readiness=readiness,
        backlog=outbox.backlog,
    )
    return Ingest(deps, relay)
