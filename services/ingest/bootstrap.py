"""Ingest's wiring, in one place: ``trainbridge ingest`` and the tests build it here.
:func:`postgres_adapters` opens the PostgreSQL adapters; :func:`wire_ingest` builds ingest
from any adapters (the unit tests pass the in-memory twins)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from litestar import Litestar

from eventlog import EventStore
from eventlog.metrics import MessagingCollector
from eventlog.model_types import ModelTypeCatalog, PostgresModelTypeCatalog
from eventlog.postgres import Database, PostgresEventStore, PostgresOutbox
from eventlog.relay import OutboxRelay
from eventlog.settings import BrokerSettings, RelaySettings
from services.ingest.app import IngestDependencies, ReadinessCheck, create_app
from services.ingest.known_model_types import KnownModelTypes
from services.ingest.metrics import ASGIApp, IngestMetrics, counting_requests
from services.ingest.settings import IngestSettings


@dataclass(frozen=True)
class IngestAdapters:
    """What ingest persists through: PostgreSQL's (:func:`postgres_adapters`) or the
    in-memory twins."""

    store: EventStore
    catalog: ModelTypeCatalog
    outbox: PostgresOutbox | None = None
    """Needed only with a broker (the relay publishes from it); gives ``/metrics`` its
    backlog (:meth:`Ingest.watch_backlog`)."""
    readiness: Mapping[str, ReadinessCheck] = field(default_factory=dict)
    """A readiness check per backend these adapters reach."""


def postgres_adapters(database: Database) -> IngestAdapters:
    """Database → store, outbox, model-type catalogue, and the database's readiness check."""

    async def database_ready() -> str | None:
        try:
            await database.ping()
        except Exception as exc:
            return f"database unreachable: {exc}"
        return None

    return IngestAdapters(
        store=PostgresEventStore(database.pool),
        catalog=PostgresModelTypeCatalog(database),
        outbox=PostgresOutbox(database.pool),
        readiness={"database": database_ready},
    )


@dataclass
class Ingest:
    """Ingest's parts, wired: what the web app depends on, and the relay (when built with a
    broker) that the app's lifespan runs."""

    deps: IngestDependencies
    relay: OutboxRelay | None
    outbox: PostgresOutbox | None = None

    def app(
        self,
        lifespan: Sequence[Callable[[Litestar], AbstractAsyncContextManager[None]]] = (),
    ) -> ASGIApp:
        """The web app as served: every request counted, 404s included."""
        app = create_app(self.deps, lifespan)
        return counting_requests(app, self.deps.metrics)  # type: ignore[arg-type]

    async def watch_backlog(self, stop: asyncio.Event) -> None:
        """Keep ``trainbridge_outbox_backlog`` current until ``stop`` (absent without an
        outbox, or while the database does not answer)."""
        if self.outbox is not None:
            await self.deps.metrics.relay_backlog.watch(self.outbox.backlog, stop)


def wire_ingest(
    settings: IngestSettings,
    adapters: IngestAdapters,
    *,
    broker: BrokerSettings | None = None,
    relay_settings: RelaySettings | None = None,
    metrics: IngestMetrics | None = None,
) -> Ingest:
    """Adapters → relay (woken on commit) → the app's dependencies, with a readiness check
    per backend. Without ``broker`` nothing is relayed."""
    store, outbox = adapters.store, adapters.outbox
    metrics = metrics or IngestMetrics()
    readiness: dict[str, ReadinessCheck] = dict(adapters.readiness)
    relay = None
    if broker is not None:
        if relay_settings is None:
            raise TypeError("ingest with a broker needs relay_settings too")
        if outbox is None:
            raise TypeError("ingest with a broker needs an outbox to relay from")
        relay = OutboxRelay(outbox, broker, relay_settings)
        store.on_commit(relay.wake)
        MessagingCollector(metrics.registry, relay)
        connected = relay.connected

        async def broker_ready() -> str | None:
            return None if connected.is_set() else "not connected to RabbitMQ"

        readiness["broker"] = broker_ready
    deps = IngestDependencies(
        settings=settings,
        store=store,
        catalog=adapters.catalog,
        metrics=metrics,
        readiness=readiness,
        known_model_types=KnownModelTypes(adapters.catalog),
    )
    return Ingest(deps, relay, outbox)


def build_ingest(
    settings: IngestSettings,
    database: Database,
    *,
    broker: BrokerSettings | None = None,
    relay_settings: RelaySettings | None = None,
    metrics: IngestMetrics | None = None,
) -> Ingest:
    """:func:`postgres_adapters`, then :func:`wire_ingest`: ingest on PostgreSQL."""
    return wire_ingest(settings, postgres_adapters(database), broker=broker,
                       relay_settings=relay_settings, metrics=metrics)
