"""Training progress as events: a pipeline may report every step, but the trainer appends a
``TrainingProgressed`` event at most once per interval (the first at once), so a fast loop
cannot flood the log or Labelbox. The reporter mirrors only the latest."""

from __future__ import annotations

import time
from collections.abc import Callable

from eventlog import EventStore, NewEvent
from eventlog.contract import TRAINING_PROGRESSED
from services.trainer.executor import ProgressReport

Emit = Callable[..., NewEvent]


class ProgressThrottle:
    def __init__(self, store: EventStore, stream_id: str, emit: Emit, interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._stream_id = stream_id
        self._emit = emit
        self._interval = interval
        self._clock = clock
        self._last: float | None = None
        self._appended = 0

    async def __call__(self, report: ProgressReport) -> None:
        now = self._clock()
        if self._last is not None and now - self._last < self._interval:
            return
        self._last = now
        self._appended += 1
        progress = report.progress
        await self._store.append(self._stream_id, [self._emit(
            TRAINING_PROGRESSED,
            {"stage": report.stage, "step": progress.step, "total": progress.total,
             "unit": progress.unit, "loss": progress.loss, "etaSeconds": report.eta_seconds},
            step=f"progress-{self._appended}")])
