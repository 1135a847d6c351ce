"""The backstop to messages: the sweep follows the global event log from a checkpoint and
reconciles every model run that has new events, so a run whose message never reached the
reporter (its queue did not exist yet; a dead-lettered message) still gets delivered. It
also picks up the runs an operator asked to redrive, and refreshes the parked gauge."""

from __future__ import annotations

import asyncio
import logging

from eventlog import EventStore, StoreUnavailableError
from eventlog.contract import STREAM_PREFIX
from eventlog.retry import Outage, reconnection_policy, sleep_unless
from services.reporter.ledger import Ledger
from services.reporter.metrics import ReporterMetrics
from services.reporter.reconciler import Reconciler

logger = logging.getLogger(__name__)

CHECKPOINT = "reporter-sweep"


class Sweeper:
    def __init__(self, store: EventStore, ledger: Ledger, reconciler: Reconciler,
                 metrics: ReporterMetrics, *, batch_size: int = 1000) -> None:
        self._store = store
        self._ledger = ledger
        self._reconciler = reconciler
        self._metrics = metrics
        self._batch_size = batch_size

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        # Sweeps keep their interval through an outage, which is logged once when it starts
        # and once when it ends, not at every sweep.
        outage = Outage(logger, "reporter sweep: database", reconnection_policy(interval))
        while not stop.is_set():
            try:
                await self.sweep()
                outage.recovered()
            except StoreUnavailableError as exc:
                outage.failed(exc)
            except Exception:
                logger.exception("reporter sweep failed; next sweep in %gs", interval)
            await sleep_unless(stop, interval)

    async def sweep(self) -> int:
        """One sweep; returns how many runs it reconciled."""
        reconciled = 0
        position = await self._ledger.checkpoint(CHECKPOINT)
        while True:
            events = await self._store.read_all(position, limit=self._batch_size)
            if not events:
                break
            streams = list(dict.fromkeys(
                e.stream_id for e in events if e.stream_id.startswith(STREAM_PREFIX)))
            await asyncio.gather(*(self._reconciler.reconcile(s, "sweep") for s in streams))
            reconciled += len(streams)
            position = events[-1].position
            await self._ledger.save_checkpoint(CHECKPOINT, position)
        redrives = await self._ledger.redrive_requested()
        await asyncio.gather(*(self._reconciler.reconcile(s, "redrive") for s in redrives))
        self._metrics.parked.set(await self._ledger.count_parked())
        return reconciled + len(redrives)
