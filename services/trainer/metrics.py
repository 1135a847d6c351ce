"""Prometheus metrics of one trainer process (its own registry: nothing global at import)."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram

from eventlog.metrics import OutboxBacklog, service_registry
from services.trainer.executor import (
    Executor,
    OnProgress,
    OnStage,
    StageReport,
    TrainingResult,
    TrainingTask,
    ignore_progress,
)

JOB_RESULTS = ("succeeded", "failed")


class TrainerMetrics:
    def __init__(self) -> None:
        self.registry = service_registry()  # with the memory and CPU of the trainer itself
        self.jobs_claimed = Counter(
            "trainbridge_trainer_jobs_claimed",
            "Training jobs this trainer claimed (a dead trainer's job taken over included)",
            registry=self.registry,
        )
        self.jobs_finished = Counter(
            "trainbridge_trainer_jobs_finished",
            "Training jobs this trainer finished, by result (TrainingCompleted or "
            "TrainingFailed recorded)", ["result"], registry=self.registry,
        )
        for result in JOB_RESULTS:
            self.jobs_finished.labels(result=result)  # present at 0 from the start
        self.jobs_running = Gauge(
            "trainbridge_trainer_jobs_running", "Training jobs this trainer is working on",
            registry=self.registry,
        )
        self.lease_takeovers = Counter(
            "trainbridge_trainer_lease_takeovers",
            "Jobs this trainer claimed after another claim's lease ran out (its trainer died "
            "or lost the database)", registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "trainbridge_trainer_stage_duration_seconds",
            "Duration of one training stage, by model type and stage (a failed stage "
            "included)", ["model_type", "stage"], registry=self.registry,
            buckets=(0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200),
        )
        self.relay_backlog = OutboxBacklog(self.registry)


class TimedExecutor:
    """An :class:`Executor` that times each stage the wrapped executor reports: a stage ends
    when the next one starts, the last one when the run returns or fails."""

    def __init__(self, executor: Executor, metrics: TrainerMetrics) -> None:
        self._executor = executor
        self._metrics = metrics

    async def run(self, task: TrainingTask, on_stage: OnStage, deadline: float,
                  on_progress: OnProgress = ignore_progress) -> TrainingResult:
        current: tuple[str, float] | None = None

        def stage_ended() -> None:
            if current is not None:
                stage, started = current
                self._metrics.stage_seconds.labels(task.model_type, stage).observe(
                    time.monotonic() - started)

        async def timed(report: StageReport) -> None:
            nonlocal current
            stage_ended()
            current = (report.stage, time.monotonic())
            await on_stage(report)

        try:
            return await self._executor.run(task, timed, deadline, on_progress)
        finally:
            stage_ended()
