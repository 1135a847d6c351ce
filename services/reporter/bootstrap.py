"""The reporter's wiring, in one place: ``trainbridge reporter`` and the tests build it
here, passing their own Labelbox port (the fake's) and databases."""

from __future__ import annotations

from dataclasses import dataclass

from eventlog import EventStore, RecordedEvent
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
from eventlog.postgres import Database, PostgresEventStore, PostgresOutbox, PostgresUnitOfWork
from eventlog.relay import OutboxRelay
from eventlog.settings import BrokerSettings, RelaySettings
from services.reporter.audit import PostgresAuditLog
from services.reporter.calls import LabelboxCalls
from services.reporter.deliverer import Deliverer
from services.reporter.labelbox_port import LabelboxPort
from services.reporter.ledger import Ledger, PostgresLedger
from services.reporter.metrics import ReporterMetrics
from services.reporter.reconciler import Reconciler
from services.reporter.settings import ReporterSettings
from services.reporter.sweeper import Sweeper

CONSUMERS = ("reporter", "reporter-acknowledge")
"""The reporter's queues (``<namespace>.<consumer>``): the main lane and the acknowledgement
lane."""
ACKNOWLEDGED = (TRAINING_REQUESTED,)
"""Wake the acknowledgement lane (its own queue, so a backlog of other runs' work in the
main queue's prefetch window never holds a new run's first status back)."""
SUBSCRIBED = (DATA_EXPORT_REQUESTED, STAGE_STARTED, TRAINING_PROGRESSED, MODEL_EVALUATED,
              PREDICTIONS_PRODUCED, TRAINING_COMPLETED, TRAINING_FAILED)


def sdk_port(settings: ReporterSettings) -> LabelboxPort:
    """The real Labelbox, through its SDK (at ``settings.endpoint``)."""
    # Imported here: `import labelbox` costs ~0.4 s and ~600 modules.
    from services.reporter.sdk_adapter import SdkLabelbox, single_attempt_client

    threads = settings.policy.threads + settings.acknowledge_concurrency
    return SdkLabelbox(single_attempt_client(settings.api_key, settings.endpoint,
                                             settings.call_timeout, threads),
                       settings.call_timeout)


@dataclass
class Messaging:
    relay: OutboxRelay
    consumer: EventConsumer[PostgresUnitOfWork]
    acknowledger: EventConsumer[PostgresUnitOfWork]


@dataclass
class Reporter:
    """The reporter's parts, wired. Close ``calls`` when done (its threads)."""

    store: EventStore
    outbox: PostgresOutbox
    ledger: Ledger
    calls: LabelboxCalls
    reconciler: Reconciler
    sweeper: Sweeper
    metrics: ReporterMetrics
    messaging: Messaging | None
    """The relay and the two consumers, when built with a broker."""


def build_reporter(
    settings: ReporterSettings,
    database: Database,
    port: LabelboxPort,
    *,
    locks: Database | None = None,
    broker: BrokerSettings | None = None,
    relay_settings: RelaySettings | None = None,
    metrics: ReporterMetrics | None = None,
) -> Reporter:
    """Database → store → outbox → relay (woken on commit) → ledger, audited calls,
    deliverer, reconciler, sweeper → consumers. ``locks``: the database whose connections
    hold the run locks (default ``database``). Without ``broker`` nothing is relayed or
    consumed (tests that reconcile by hand)."""
    metrics = metrics or ReporterMetrics()
    store = PostgresEventStore(database.pool)
    outbox = PostgresOutbox(database.pool)
    calls = LabelboxCalls(PostgresAuditLog(database, settings.reporter_id), settings.policy,
                          metrics, acknowledgement_threads=settings.acknowledge_concurrency)
    ledger = PostgresLedger(database, locks=locks)
    reconciler = Reconciler(store, ledger, Deliverer(port, calls, store, settings), metrics,
                            concurrency=settings.concurrency,
                            acknowledge_concurrency=settings.acknowledge_concurrency)
    messaging = None
    if broker is not None:
        if relay_settings is None:
            raise TypeError("a reporter with a broker needs relay_settings too")
        relay = OutboxRelay(outbox, broker, relay_settings)
        store.on_commit(relay.wake)

        async def wake_up(event: RecordedEvent) -> None:
            await reconciler.reconcile(event.stream_id, "message")

        async def acknowledge(event: RecordedEvent) -> None:
            await reconciler.acknowledge(event.stream_id)

        messaging = Messaging(
            relay,
            EventConsumer(store, broker, Subscription(CONSUMERS[0], SUBSCRIBED,
                                                      wake_up=wake_up)),
            EventConsumer(store, broker, Subscription(CONSUMERS[1], ACKNOWLEDGED,
                                                      wake_up=acknowledge)),
        )
    return Reporter(store, outbox, ledger, calls, reconciler,
                    Sweeper(store, ledger, reconciler, metrics), metrics, messaging)
