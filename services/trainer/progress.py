"""Training progress as events: a pipeline may report every step, but the trainer appends a
``TrainingProgressed`` event at most once per interval (the first at once), so a fast loop
cannot flood the log or Labelbox. The reporter mirrors only the latest. For people reading
the log, :class:`StageLog` logs each stage as it starts and, with its duration, as it ends."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from eventlog import EventStore, NewEvent, StoreUnavailableError
from eventlog.contract import TRAINING_PROGRESSED
from services.trainer.events import finite
from services.trainer.executor import ProgressReport

Emit = Callable[..., NewEvent]
logger = logging.getLogger(__name__)


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
        try:
            await self._store.append(self._stream_id, [self._emit(
                TRAINING_PROGRESSED,
                {"stage": report.stage, "step": progress.step, "total": progress.total,
                 "unit": str(progress.unit), "loss": finite(progress.loss),
                 "etaSeconds": finite(report.eta_seconds)},
                step=f"progress-{self._appended}")])
        except StoreUnavailableError:
            raise  # the lease decides, as for every other append
        except Exception:
            # Progress is a courtesy: what cannot be recorded never fails the training.
            logger.exception("%s: progress %s not recorded", self._stream_id, progress)


class StageLog:
    """One line as a stage starts and one as it ends, with how long it took: a stage ends
    when the next starts, or with the run (``finished`` or ``failed``). Each ended stage's
    duration also goes to ``observe`` (the trainer's stage-duration histogram)."""

    def __init__(self, stream_id: str, clock: Callable[[], float] = time.monotonic,
                 observe: Callable[[str, float], None] | None = None) -> None:
        self._stream_id = stream_id
        self._clock = clock
        self._observe = observe
        self._current: tuple[str, float] | None = None

    def started(self, stage: str, metadata: dict[str, str]) -> None:
        self.ended("finished")
        shown = " ".join(f"{name}={value}" for name, value in metadata.items())
        logger.info("%s: stage %s started%s", self._stream_id, stage,
                    f" ({shown})" if shown else "")
        self._current = (stage, self._clock())

    def ended(self, how: str) -> None:
        if self._current is None:
            return
        stage, since = self._current
        self._current = None
        seconds = self._clock() - since
        logger.info("%s: stage %s %s in %.1fs", self._stream_id, stage, how, seconds)
        if self._observe is not None:
            self._observe(stage, seconds)
