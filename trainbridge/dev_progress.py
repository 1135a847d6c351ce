"""``trainbridge dev``'s progress lines, one per model run requested since it started, e.g.
``run demo-20261128-0914… text_single_classification  TRAINING_MODEL  12.3s``.

Read from the event log (the ``model_runs`` view, as ``trainbridge runs --watch`` reads it),
never from the services' logs. A run's state is what Labelbox shows once that is final
(``COMPLETE``, ``FAILED``), else the trainer's current stage (``REQUESTED`` before one)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventlog.errors import EventLogError
from eventlog.postgres import pooled, translated_errors
from eventlog.retry import sleep_unless
from eventlog.settings import DatabaseSettings
from trainbridge.dev_console import Console
from trainbridge.operator import RunFilter, database_now, duration, list_runs

TERMINAL = ("COMPLETE", "FAILED")
ID_WIDTH = 24


@dataclass(frozen=True)
class RunProgress:
    model_run_id: str
    model_type: str
    state: str
    seconds: float
    ended: bool

    @property
    def line(self) -> str:
        run = self.model_run_id
        if len(run) > ID_WIDTH:
            run = run[: ID_WIDTH - 1] + "…"
        return f"run {run}  {self.model_type}  {self.state}  {duration(self.seconds)}"


def progress_of(run: Mapping[str, Any], now: datetime) -> RunProgress:
    """One row of ``model_runs`` as progress: ended once Labelbox shows a final status (or
    the run failed before the reporter told it); timed from the latest attempt's request."""
    shown = run["labelbox_status"]
    if shown in TERMINAL:
        state, until = shown, run["labelbox_status_at"]
    elif run["status"] == "FAILED":
        state, until = "FAILED", run["finished_at"]
    else:
        state, until = run["current_stage"] or "REQUESTED", None
    started: datetime = run["started_at"]
    return RunProgress(
        model_run_id=run["model_run_id"], model_type=run["model_type"] or "-", state=state,
        seconds=max(0.0, ((until or now) - started).total_seconds()), ended=until is not None)


async def show_progress(database: DatabaseSettings, console: Console, stop: asyncio.Event,
                        *, interval: float = 0.5) -> None:
    """Until ``stop``, and once more then: every ``interval`` seconds, one progress line per
    run requested since this started (each run's last line once it has ended). While the
    event log cannot be read the lines pause (said once) and it is tried again."""
    tracker = _Tracker(console)
    failing = False
    while not stop.is_set():
        try:
            async with pooled(database) as pool, translated_errors(pool):
                failing = False
                tracker.since = tracker.since or await database_now(pool)
                while True:
                    tracker.show(await list_runs(pool, RunFilter(since=tracker.since)))
                    if stop.is_set():
                        return  # having shown where the runs got to
                    await sleep_unless(stop, interval)
        except (EventLogError, OSError) as exc:  # an outage must not stop `dev`
            if not failing:
                console.say("dev", f"progress paused: cannot read the event log ({exc})")
            failing = True
            await sleep_unless(stop, 5 * interval)


class _Tracker:
    def __init__(self, console: Console) -> None:
        self._console = console
        self.since: datetime | None = None
        self._ended: set[str] = set()

    def show(self, runs: Sequence[Mapping[str, Any]]) -> None:
        now = datetime.now(UTC)
        for run in reversed(runs):  # oldest first
            if run["model_run_id"] in self._ended:
                continue
            progress = progress_of(run, now)
            self._console.progress(progress.model_run_id, progress.line, progress.state,
                                   ended=progress.ended)
            if progress.ended:
                self._ended.add(progress.model_run_id)
