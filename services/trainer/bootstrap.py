"""The trainer's wiring, in one place: ``trainbridge trainer`` and the tests build it here,
passing fakes at the ports (the executor, the pipelines, the HTTP client)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from eventlog.consumer import EventConsumer, HandlerOf, Subscription
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
    """Database → store → outbox → relay (woken on commit) → consumer, jobs and worker.
    Without ``broker`` nothing is relayed or consumed (tests that drive the handler)."""
    if pipelines is None:
        pipelines = installed(load_pipelines())
    metrics = metrics or TrainerMetrics()
    events = PostgresEventStore(database.pool)
    store = PostgresTrainerStore(events)
    handler = make_handler(pipelines)
    messaging = None
    if broker is not None:
        if relay_settings is None:
            raise TypeError("a trainer with a broker needs relay_settings too")
        relay = OutboxRelay(PostgresOutbox(database.pool), broker, relay_settings)
        store.on_commit(relay.wake)
        messaging = Messaging(relay, EventConsumer(
            store, broker, Subscription("trainer", SUBSCRIBED, handler)))
    jobs = PostgresTrainingJobs(database, settings.trainer_id, settings.lease_seconds)
    worker = TrainingWorker(
        store, jobs, executor or ChildProcessExecutor(memory_limit=settings.memory_limit_bytes),
        pipelines, settings, http, metrics)
    return Trainer(store, jobs, PostgresModelTypeCatalog(database), pipelines, handler, worker,
                   metrics, messaging)
