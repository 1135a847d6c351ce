"""Reconciling one model run: read its stream, plan what Labelbox must show, and deliver
what the ledger does not hold yet, in order. A message is only a wake-up, so duplicates,
redeliveries and reordering change nothing. One run is reconciled by one reporter at a time
(an advisory lock across replicas); different runs in parallel, at most ``concurrency``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from eventlog import (
    EventStore,
    RecordedEvent,
    StoreUnavailableError,
    UnstorableTextError,
    json_logs,
)
from eventlog.contract import STREAM_PREFIX, model_run_id_of
from services.reporter.calls import error_text
from services.reporter.deliverer import Deliverer, DeliveryOutcome
from services.reporter.ledger import DELIVERED, PARKED, Ledger, LedgerEntry
from services.reporter.metrics import ReporterMetrics
from services.reporter.plan import TERMINAL, Delivery, RunPlan, plan_run

logger = logging.getLogger(__name__)

ACKNOWLEDGEMENTS_FIRST_SECONDS = 1.0
"""How long a delivery of the main lane waits while acknowledgements are pending: new runs
are acknowledged first, and older runs still move on under a steady stream of new ones."""


REMEMBERED_RUNS = 10_000
"""Runs whose last reconciled stream version a reconciler remembers, to skip the wake-ups
of events it has already reconciled (the least recently reconciled are forgotten)."""


@dataclass
class _Run:
    """What a reconciler holding a run's lock knows of it: its stream as read so far and its
    ledger (only the lock holder records deliveries, so the ledger is read once)."""

    stream_id: str
    events: list[RecordedEvent]
    ledger: dict[str, LedgerEntry]
    moved_on: bool = False
    """A wake-up for the run came here while it was held: read the stream on before the
    next delivery."""
    _plan: tuple[int, RunPlan | None] | None = None

    @property
    def next_version(self) -> int:
        return self.events[-1].stream_version + 1 if self.events else 1

    def plan(self) -> RunPlan | None:
        """The plan of the stream as read so far (worked out again only when it grew)."""
        if self._plan is None or self._plan[0] != len(self.events):
            self._plan = (len(self.events), plan_run(self.events))
        return self._plan[1]


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
        self._holding: dict[str, _Run] = {}
        """The runs being reconciled here."""
        self._reconciled: OrderedDict[str, int] = OrderedDict()
        """Per run: the stream version up to which a reconciliation here read its stream
        and delivered all it could."""

    def _covers(self, stream_id: str, version: int | None) -> bool:
        return version is not None and version <= self._reconciled.get(stream_id, 0)

    def _remember(self, run: _Run) -> None:
        if run.events:
            self._reconciled[run.stream_id] = run.events[-1].stream_version
            self._reconciled.move_to_end(run.stream_id)
            if len(self._reconciled) > REMEMBERED_RUNS:
                self._reconciled.popitem(last=False)

    async def reconcile(self, stream_id: str, trigger: str = "message", *,
                        version: int | None = None) -> None:
        """Deliver what the run's stream asks for and its ledger does not hold yet.
        ``version``: that of the event whose message woke this; nothing is done if a
        reconciliation here has already read past it (a message of a burst of events that an
        earlier reconciliation read together, or a duplicate)."""
        if not stream_id.startswith(STREAM_PREFIX) or self._covers(stream_id, version):
            return
        json_logs.model_run_id.set(model_run_id_of(stream_id))
        self._tell_holder(stream_id)
        async with self._slots, self._ledger.run_lock(stream_id):
            if self._covers(stream_id, version):
                return  # reconciled while this one waited for the lock
            self._metrics.reconciles.labels(trigger).inc()
            run = self._holding[stream_id] = await self._read(stream_id)
            try:
                while await self._deliver_next(run):
                    pass
            finally:
                del self._holding[stream_id]
            self._remember(run)

    def _tell_holder(self, stream_id: str) -> None:
        """If the run is being reconciled here, its holder reads the stream on before its
        next delivery (it reads none after a status otherwise)."""
        held = self._holding.get(stream_id)
        if held is not None:
            held.moved_on = True

    async def acknowledge(self, stream_id: str) -> None:
        """Send the run's acknowledgement (its attempt's first status) if that is what it
        waits for, on slots of its own, and nothing else: its export waits for the trainer's
        ``DataExportRequested``, which wakes ``reconcile``. If another reconciler holds the
        run, this one leaves, telling a holder here to read the stream on before its next
        delivery (the acknowledgement comes first in its plan); ``reconcile`` on the
        trainer's next event (and the sweeper) are the backstops."""
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
                    await self._deliver_next(await self._read(stream_id),
                                             acknowledgement_only=True)
                else:
                    self._tell_holder(stream_id)
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

    async def _read(self, stream_id: str) -> _Run:
        """The run's stream and ledger, read at the same time (two connections, one wait):
        holding the run's lock, nothing else records its deliveries meanwhile."""
        events, ledger = await asyncio.gather(self._store.read_stream(stream_id),
                                              self._ledger.entries(stream_id))
        return _Run(stream_id, events, ledger if events else {})

    async def _read_on(self, run: _Run) -> bool:
        """Read what was appended to the run's stream since; ``True`` if anything was."""
        run.moved_on = False
        later = await self._store.read_stream(run.stream_id, from_version=run.next_version)
        run.events.extend(later)
        return bool(later)

    async def _record(self, run: _Run, model_run_id: str, delivery: Delivery,
                      outcome: DeliveryOutcome) -> None:
        await self._ledger.record(
            stream_id=run.stream_id, delivery_key=delivery.key, model_run_id=model_run_id,
            attempt=delivery.attempt, action=delivery.action,
            cause_event_id=delivery.cause.event_id, state=outcome.state, result=outcome.result,
            error=outcome.error, call=outcome.last_call,
        )
        run.ledger[delivery.key] = LedgerEntry(delivery.key, outcome.state, outcome.result,
                                               outcome.error)

    def _pending(self, run: _Run, plan: RunPlan) -> Delivery | None:
        """The plan's first delivery not delivered yet; ``None`` when there is none or it
        is parked."""
        for delivery in plan.deliveries:
            entry = run.ledger.get(delivery.key)
            if entry is not None and entry.state == DELIVERED:
                continue
            if entry is not None and entry.state == PARKED:
                logger.info("%s: %s is parked (%s); waiting for an operator", run.stream_id,
                            delivery.key, entry.error)
                return None
            return delivery
        return None

    async def _deliver_next(self, run: _Run, *, acknowledgement_only: bool = False) -> bool:
        """Deliver the first delivery not done yet; ``False`` when there is none or the
        run waits for an operator (or, ``acknowledgement_only``, when it is not an
        acknowledgement). What was appended to the stream is read on only after a delivery
        that appended an event the plan reads (``TrainingFailed``) and when a wake-up for
        the run came here meanwhile. Another event appended meanwhile has a message of its
        own, which reconciles the run again after this."""
        if not acknowledgement_only:
            # Holding the slot and the run's lock: giving them back meanwhile and taking them
            # again measured slower (bench/e2e.py), and the acknowledgement lane does not wait
            # for a run held here (this holder acknowledges it first, if it must).
            await self._acknowledgements_first()
        while True:
            plan = run.plan()
            if plan is None:
                return False
            json_logs.correlation_id.set(plan.correlation_id)
            pending = self._pending(run, plan)
            if pending is None and run.moved_on and await self._read_on(run):
                continue  # the stream moved on meanwhile: plan again
            break
        if pending is None or (acknowledgement_only and not pending.acknowledges):
            return False
        try:
            outcome = await self._deliverer.deliver(pending, plan, run.ledger)
        except StoreUnavailableError:
            raise  # the database is away: the delivery is tried again when it is back
        except Exception as exc:
            # Its result cannot be recorded (an event or audit row the database refuses, a
            # bug): trying again would repeat the Labelbox calls forever. An operator sees it
            # in `trainbridge parked` and can redrive it.
            logger.exception("%s: %s parked: its outcome cannot be recorded", run.stream_id,
                             pending.key)
            outcome = DeliveryOutcome(PARKED, {"unrecorded": True},
                                      f"outcome cannot be recorded: {error_text(exc)}",
                                      replan=True)  # it may have appended before it failed
        try:
            await self._record(run, plan.model_run_id, pending, outcome)
        except UnstorableTextError as exc:
            logger.error("%s: %s parked: the ledger refuses its result (%s)", run.stream_id,
                         pending.key, exc)
            outcome = DeliveryOutcome(PARKED, {"unrecorded": True},
                                      f"outcome cannot be recorded: {error_text(exc)}",
                                      last_call=outcome.last_call, replan=outcome.replan)
            await self._record(run, plan.model_run_id, pending, outcome)
        if outcome.replan or run.moved_on:
            await self._read_on(run)
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
            logger.info("%s: delivered %s", run.stream_id, pending.key)
        return outcome.state == DELIVERED
