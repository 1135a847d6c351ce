"""The reporter's wiring, in one place: ``trainbridge reporter`` and the tests build it
here. :func:`postgres_adapters` opens the PostgreSQL adapters; :func:`wire_reporter` builds
the reporter from any adapters (the unit tests pass the in-memory twins) and a Labelbox port
(the fake's, in tests)."""

from __future__ import annotations

from dataclasses import dataclass

from eventlog import EventStore, RecordedEvent, UnitOfWork
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
from eventlog.metrics import MessagingCollector
from eventlog.postgres import Database, PostgresEventStore, PostgresOutbox
from eventlog.relay import OutboxRelay
from eventlog.settings import BrokerSettings, RelaySettings
from services.reporter.audit import AuditLog, PostgresAuditLog
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


@dataclass(frozen=True)
class ReporterAdapters:
    """What the reporter persists through: PostgreSQL's (:func:`postgres_adapters`) or the
    in-memory twins."""

    store: EventStore
    ledger: Ledger
    audit: AuditLog
    outbox: PostgresOutbox | None = None
    """Needed only with a broker (the relay publishes from it)."""


def postgres_adapters(settings: ReporterSettings, database: Database, *,
                      locks: Database | None = None) -> ReporterAdapters:
    """Database → store, outbox, ledger, audit log. ``locks``: the database whose
    connections hold the run locks (default ``database``)."""
    audit = PostgresAuditLog(database, settings.reporter_id)
    return ReporterAdapters(
        store=PostgresEventStore(database.pool),
        ledger=PostgresLedger(database, locks=locks, audit=audit),
        audit=audit,
        outbox=PostgresOutbox(database.pool),
    )


@dataclass
class Messaging:
    relay: OutboxRelay
    consumer: EventConsumer[UnitOfWork]
    acknowledger: EventConsumer[UnitOfWork]


@dataclass
class Reporter:
    """The reporter's parts, wired. Close ``calls`` when done (its threads)."""

    store: EventStore
    outbox: PostgresOutbox | None
    ledger: Ledger
    calls: LabelboxCalls
    deliverer: Deliverer
    reconciler: Reconciler
    sweeper: Sweeper
    metrics: ReporterMetrics
    messaging: Messaging | None
    """The relay and the two consumers, when built with a broker."""


def wire_reporter(
    settings: ReporterSettings,
    adapters: ReporterAdapters,
    port: LabelboxPort,
    *,
    broker: BrokerSettings | None = None,
    relay_settings: RelaySettings | None = None,
    metrics: ReporterMetrics | None = None,
) -> Reporter:
    """Adapters → relay (woken on commit) → audited calls, deliverer, reconciler, sweeper →
    consumers. Without ``broker`` nothing is relayed or consumed (tests that reconcile by
    hand)."""
    metrics = metrics or ReporterMetrics()
    store, ledger = adapters.store, adapters.ledger
    calls = LabelboxCalls(adapters.audit, settings.policy, metrics,
                          acknowledgement_threads=settings.acknowledge_concurrency)
    deliverer = Deliverer(port, calls, store, settings)
    reconciler = Reconciler(store, ledger, deliverer, metrics,
                            concurrency=settings.concurrency,
                            acknowledge_concurrency=settings.acknowledge_concurrency)
    messaging = None
    if broker is not None:
        if relay_settings is None:
            raise TypeError("a reporter with a broker needs relay_settings too")
        if adapters.outbox is None:
            raise TypeError("a reporter with a broker needs an outbox to relay from")
        relay = OutboxRelay(adapters.outbox, broker, relay_settings)
        store.on_commit(relay.wake)

        async def wake_up(event: RecordedEvent) -> None:
            await reconciler.reconcile(event.stream_id, "message", version=event.stream_version)

        async def acknowledge(event: RecordedEvent) -> None:
            await reconciler.acknowledge(event.stream_id)

        messaging = Messaging(
            relay,
            EventConsumer(store, broker, Subscription(CONSUMERS[0], SUBSCRIBED,
                                                      wake_up=wake_up)),
            EventConsumer(store, broker, Subscription(CONSUMERS[1], ACKNOWLEDGED,
                                                      wake_up=acknowledge)),
        )
        MessagingCollector(metrics.registry, relay,
                           [messaging.consumer, messaging.acknowledger])
    return Reporter(store, adapters.outbox, ledger, calls, deliverer, reconciler,
                    Sweeper(store, ledger, reconciler, metrics), metrics, messaging)


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
    """:func:`postgres_adapters`, then :func:`wire_reporter`: the reporter on PostgreSQL."""
    return wire_reporter(settings, postgres_adapters(settings, database, locks=locks), port,
                         broker=broker, relay_settings=relay_settings, metrics=metrics)
