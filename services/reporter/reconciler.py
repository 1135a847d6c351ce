"""Reconciling one model run: read its stream, plan what Labelbox must show, and deliver
what the ledger does not hold yet, in order. A message is only a wake-up, so duplicates,
redeliveries and reordering change nothing. One run is reconciled by one reporter at a time
(an advisory lock across replicas); different runs in parallel, at most ``concurrency``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from eventlog import EventStore, StoreUnavailableError, UnstorableTextError, json_logs
from eventlog.contract import STREAM_PREFIX, model_run_id_of
from services.reporter.calls import error_text
from services.reporter.deliverer import Deliverer, DeliveryOutcome
from services.reporter.ledger import DELIVERED, PARKED, Ledger
from services.reporter.metrics import ReporterMetrics
from services.reporter.plan import TERMINAL, Delivery, plan_run

logger = logging.getLogger(__name__)

ACKNOWLEDGEMENTS_FIRST_SECONDS = 1.0
"""How long a delivery of the main lane waits while acknowledgements are pending: new runs
are acknowledged first, and older runs still move on under a steady stream of new ones."""


class Reconciler:
    def __init__(self, store: EventStore, ledger: Ledger, deliverer: Deliverer,
                 metrics: ReporterMetrics, *, concurrency: int,
                 acknowledge_concurrency: int) -> None:
        self._store = store
        self._ledger = ledger
        self._deliverer = deliverer
        self._metrics = metrics
        self._slots = asyncio.Semaphore(concurrency)
        self._acknowledge_slots = asyncio.Semaphore(acknowledge_concurrency)
        self._acknowledging = 0
        self._no_acknowledgements = asyncio.Event()
        self._no_acknowledgements.set()

    async def reconcile(self, stream_id: str, trigger: str = "message") -> None:
        if not stream_id.startswith(STREAM_PREFIX):
            return
        self._metrics.reconciles.labels(trigger).inc()
        json_logs.model_run_id.set(model_run_id_of(stream_id))
        async with self._slots, self._ledger.run_lock(stream_id):
            while await self._deliver_next(stream_id):
                pass

    async def acknowledge(self, stream_id: str) -> None:
        """Send the run's acknowledgement (its attempt's first status) if that is what it
        waits for, on slots of its own, and nothing else: its export waits for the trainer's
        ``DataExportRequested``, which wakes ``reconcile``. If another reconciler holds the
        run, this one leaves: the holder reads the stream again after each delivery, and
        the acknowledgement comes first in its plan; ``reconcile`` on the trainer's next
        event (and the sweeper) are the backstops."""
        if not stream_id.startswith(STREAM_PREFIX):
            return
        self._metrics.reconciles.labels("acknowledge").inc()
        json_logs.model_run_id.set(model_run_id_of(stream_id))
        self._acknowledging += 1
        self._metrics.acknowledgements_pending.set(self._acknowledging)
        self._no_acknowledgements.clear()
        try:
            async with (self._acknowledge_slots,
                        self._ledger.run_lock(stream_id, wait=False) as locked):
                if locked:
                    await self._deliver_next(stream_id, acknowledgement_only=True)
        finally:
            self._acknowledging -= 1
            self._metrics.acknowledgements_pending.set(self._acknowledging)
            if self._acknowledging == 0:
                self._no_acknowledgements.set()

    async def _acknowledgements_first(self) -> None:
        if self._no_acknowledgements.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._no_acknowledgements.wait(),
                                   ACKNOWLEDGEMENTS_FIRST_SECONDS)

    async def _record(self, stream_id: str, model_run_id: str, delivery: Delivery,
                      outcome: DeliveryOutcome) -> None:
        await self._ledger.record(
            stream_id=stream_id, delivery_key=delivery.key, model_run_id=model_run_id,
            attempt=delivery.attempt, action=delivery.action,
            cause_event_id=delivery.cause.event_id, state=outcome.state, result=outcome.result,
            error=outcome.error,
        )

    async def _deliver_next(self, stream_id: str, *, acknowledgement_only: bool = False
                            ) -> bool:
        """Deliver the first delivery not done yet; ``False`` when there is none or the
        run waits for an operator (or, ``acknowledgement_only``, when it is not an
        acknowledgement). The stream is read again after every delivery: one may have
        appended events (``DataExported``, ``TrainingFailed``)."""
        if not acknowledgement_only:
            # Holding the slot and the run's lock: giving them back meanwhile and taking them
            # again measured slower (bench/e2e.py), and the acknowledgement lane does not wait
            # for a run held here (this holder acknowledges it first, if it must).
            await self._acknowledgements_first()
        plan = plan_run(await self._store.read_stream(stream_id))
        if plan is None:
            return False
        json_logs.correlation_id.set(plan.correlation_id)
        ledger = await self._ledger.entries(stream_id)
        pending: Delivery | None = None
        for delivery in plan.deliveries:
            entry = ledger.get(delivery.key)
            if entry is not None and entry.state == DELIVERED:
                continue
            if entry is not None and entry.state == PARKED:
                logger.info("%s: %s is parked (%s); waiting for an operator", stream_id,
                            delivery.key, entry.error)
                return False
            pending = delivery
            break
        if pending is None or (acknowledgement_only and not pending.acknowledges):
            return False
        try:
            outcome = await self._deliverer.deliver(pending, plan, ledger)
        except StoreUnavailableError:
            raise  # the database is away: the delivery is tried again when it is back
        except Exception as exc:
            # Its result cannot be recorded (an event or audit row the database refuses, a
            # bug): trying again would repeat the Labelbox calls forever. An operator sees it
            # in `trainbridge parked` and can redrive it.
            logger.exception("%s: %s parked: its outcome cannot be recorded", stream_id,
                             pending.key)
            outcome = DeliveryOutcome(PARKED, {"unrecorded": True},
                                      f"outcome cannot be recorded: {error_text(exc)}")
        try:
            await self._record(stream_id, plan.model_run_id, pending, outcome)
        except UnstorableTextError as exc:
            logger.error("%s: %s parked: the ledger refuses its result (%s)", stream_id,
                         pending.key, exc)
            outcome = DeliveryOutcome(PARKED, {"unrecorded": True},
                                      f"outcome cannot be recorded: {error_text(exc)}")
            await self._record(stream_id, plan.model_run_id, pending, outcome)
        self._metrics.deliveries.labels(pending.action, outcome.state).inc()
        if outcome.state == DELIVERED:
            now = datetime.now(UTC)
            lag = max(0.0, (now - pending.cause.recorded_at).total_seconds())
            self._metrics.reconcile_lag.observe(lag)
            if pending.acknowledges:
                self._metrics.acknowledgement_lag.observe(lag)
            if pending.status in TERMINAL:
                self._metrics.run_duration.labels(pending.status).observe(
                    max(0.0, (now - plan.requested_at).total_seconds()))
            logger.info("%s: delivered %s", stream_id, pending.key)
        return outcome.state == DELIVERED
