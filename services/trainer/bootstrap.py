"""The trainer's wiring, in one place: ``trainbridge trainer`` and the tests build it here.
:func:`postgres_adapters` opens the PostgreSQL adapters; :func:`wire_trainer` builds the
trainer from any adapters (the in-memory twins in unit tests), with fakes at the ports (the
executor, the pipelines, the HTTP client)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from eventlog.consumer import EventConsumer, HandlerOf, Subscription
from eventlog.metrics import MessagingCollector
from eventlog.model_types import ModelTypeCatalog, PostgresModelTypeCatalog
from eventlog.postgres import Database, PostgresEventStore, PostgresOutbox
from eventlog.relay import OutboxRelay
from eventlog.settings import BrokerSettings, RelaySettings
from services.trainer.executor import ChildProcessExecutor, Executor
from services.trainer.handlers import SUBSCRIBED, make_handler
from services.trainer.jobs import PostgresTrainingJobs, TrainingJobs
from services.trainer.metrics import TrainerMetrics
from services.trainer.pipeline import Pipeline
from services.trainer.registry import installed, load_pipelines
from services.trainer.settings import TrainerSettings
from services.trainer.unit_of_work import PostgresTrainerStore, TrainerStore, TrainerUnitOfWork
from services.trainer.worker import TrainingWorker


@dataclass(frozen=True)
class TrainerAdapters:
    """What the trainer persists through: PostgreSQL's (:func:`postgres_adapters`) or the
    in-memory twins."""

    store: TrainerStore
    jobs: TrainingJobs
    catalog: ModelTypeCatalog
    outbox: PostgresOutbox | None = None
    """Needed only with a broker (the relay publishes from it)."""


def postgres_adapters(settings: TrainerSettings, database: Database) -> TrainerAdapters:
    """Database → store (events and job queue), this trainer's jobs, model-type catalogue,
    outbox."""
    return TrainerAdapters(
        store=PostgresTrainerStore(PostgresEventStore(database.pool)),
        jobs=PostgresTrainingJobs(database, settings.trainer_id, settings.lease_seconds),
        catalog=PostgresModelTypeCatalog(database),
        outbox=PostgresOutbox(database.pool),
    )


@dataclass
class Messaging:
    relay: OutboxRelay
    consumer: EventConsumer[TrainerUnitOfWork]


@dataclass
class Trainer:
    """The trainer's parts, wired."""

    store: TrainerStore
    jobs: TrainingJobs
    catalog: ModelTypeCatalog
    pipelines: dict[str, Pipeline]
    handler: HandlerOf[TrainerUnitOfWork]
    worker: TrainingWorker
    metrics: TrainerMetrics
    messaging: Messaging | None
    """The relay and the consumer, when built with a broker."""


def wire_trainer(
    settings: TrainerSettings,
    adapters: TrainerAdapters,
    http: httpx.AsyncClient,
    *,
    broker: BrokerSettings | None = None,
    relay_settings: RelaySettings | None = None,
    pipelines: dict[str, Pipeline] | None = None,
    executor: Executor | None = None,
    metrics: TrainerMetrics | None = None,
) -> Trainer:
    """Adapters → relay (woken on commit) → consumer, worker. Without ``broker`` nothing is
    relayed or consumed (tests that drive the handler)."""
    if pipelines is None:
        pipelines = installed(load_pipelines())
    metrics = metrics or TrainerMetrics()
    store = adapters.store
    handler = make_handler(pipelines)
    messaging = None
    if broker is not None:
        if relay_settings is None:
            raise TypeError("a trainer with a broker needs relay_settings too")
        if adapters.outbox is None:
            raise TypeError("a trainer with a broker needs an outbox to relay from")
        relay = OutboxRelay(adapters.outbox, broker, relay_settings)
        store.on_commit(relay.wake)
        messaging = Messaging(relay, EventConsumer(
            store, broker, Subscription("trainer", SUBSCRIBED, handler)))
        MessagingCollector(metrics.registry, relay, [messaging.consumer])
    worker = TrainingWorker(
        store, adapters.jobs,
        executor or ChildProcessExecutor(memory_limit=settings.memory_limit_bytes),
        pipelines, settings, http, metrics)
    return Trainer(store, adapters.jobs, adapters.catalog, pipelines, handler, worker,
                   metrics, messaging)


def build_trainer(
    settings: TrainerSettings,
    database: Database,
    http: httpx.AsyncClient,
    *,
    broker: BrokerSettings | None = None,
    relay_settings: RelaySettings | None = None,
    pipelines: dict[str, Pipeline] | None = None,
    executor: Executor | None = None,
    metrics: TrainerMetrics | None = None,
) -> Trainer:
    """:func:`postgres_adapters`, then :func:`wire_trainer`: the trainer on PostgreSQL."""
    return wire_trainer(settings, postgres_adapters(settings, database), http, broker=broker,
                        relay_settings=relay_settings, pipelines=pipelines,
                        executor=executor, metrics=metrics)
