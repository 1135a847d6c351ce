"""Training progress becomes events at most once per interval, so a pipeline may report
every step without flooding the log or Labelbox; the first report is recorded at once."""

from __future__ import annotations

import logging
from functools import partial

import pytest

from eventlog.memory import InMemoryEventStore
from services.trainer.events import trainer_event
from services.trainer.executor import ProgressReport
from services.trainer.pipeline import Progress
from services.trainer.progress import ProgressThrottle, StageLog

STREAM = "model_run-run-1"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def report(step: int, loss: float = 0.5, eta: float | None = 12.0) -> ProgressReport:
    return ProgressReport("TRAINING_MODEL", Progress(step, 10, "epoch", loss), eta)


async def test_reports_within_the_interval_are_dropped_and_the_first_is_kept() -> None:
    store, clock = InMemoryEventStore(), Clock()
    emit = partial(trainer_event, stream_id=STREAM, attempt=1, correlation_id="corr-1")
    throttle = ProgressThrottle(store, STREAM, emit, interval=5.0, clock=clock)

    for step in range(1, 11):
        await throttle(report(step))
        clock.now += 1.5  # a report every 1.5 s

    events = await store.read_stream(STREAM)
    assert [e.data["step"] for e in events] == [1, 5, 9]
    assert events[0].event_type == "TrainingProgressed"
    assert events[0].data == {"attempt": 1, "stage": "TRAINING_MODEL", "step": 1, "total": 10,
                              "unit": "epoch", "loss": 0.5, "etaSeconds": 12.0}
    assert len({e.event_id for e in events}) == 3


async def test_the_event_ids_repeat_when_a_run_is_trained_again() -> None:
    """A trainer that dies and trains the run again appends nothing twice."""
    ids = []
    for _ in range(2):
        store, clock = InMemoryEventStore(), Clock()
        emit = partial(trainer_event, stream_id=STREAM, attempt=1, correlation_id=None)
        throttle = ProgressThrottle(store, STREAM, emit, interval=5.0, clock=clock)
        await throttle(report(1))
        clock.now += 6
        await throttle(report(2))
        ids.append([e.event_id for e in await store.read_stream(STREAM)])

    assert ids[0] == ids[1]


async def test_a_diverging_loss_is_recorded_as_unknown_not_as_a_failure() -> None:
    store = InMemoryEventStore()
    emit = partial(trainer_event, stream_id=STREAM, attempt=1, correlation_id=None)
    throttle = ProgressThrottle(store, STREAM, emit, interval=5.0, clock=Clock())

    await throttle(report(3, loss=float("nan"), eta=float("inf")))

    [event] = await store.read_stream(STREAM)
    assert (event.data["loss"], event.data["etaSeconds"]) == (None, None)


def test_the_child_sends_at_most_one_report_per_interval_and_always_the_last() -> None:
    from services.trainer.executor import _progress_reporter

    sent: list[object] = []
    on_progress = _progress_reporter("TRAINING_MODEL", sent.append)
    for step in range(1, 1001):
        on_progress(Progress(step, 1000, "batch"))

    steps = [r.progress.step for r in sent if isinstance(r, ProgressReport)]
    assert steps[0] == 1 and steps[-1] == 1000 and len(steps) < 10


def test_the_log_shows_each_stage_starting_and_ending_with_its_duration(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    stages = StageLog(STREAM, clock=clock)
    caplog.set_level(logging.INFO, logger="services.trainer.progress")

    stages.started("PREPARING_DATA", {"rows": "150"})
    clock.now += 1.25
    stages.started("TRAINING_MODEL", {})
    clock.now += 30.0
    stages.ended("failed")
    stages.ended("failed")  # nothing is running any more: no line

    assert caplog.messages == [
        "model_run-run-1: stage PREPARING_DATA started (rows=150)",
        "model_run-run-1: stage PREPARING_DATA finished in 1.2s",
        "model_run-run-1: stage TRAINING_MODEL started",
        "model_run-run-1: stage TRAINING_MODEL failed in 30.0s",
    ]
