"""Each training stage is timed, by model type and stage: a stage ends when the next one
starts, the last one when the run ends, failed runs included."""

from __future__ import annotations

import pytest

from services.trainer.executor import (
    OnProgress,
    OnStage,
    StageReport,
    TrainingFailure,
    TrainingResult,
    TrainingTask,
    ignore_progress,
)
from services.trainer.metrics import TimedExecutor, TrainerMetrics

TASK = TrainingTask(model_type="ner", model_run_id="run-1", examples=[],
                    artifacts_prefix="file:///tmp/none")


class FailingInTraining:
    """Reports two stages, then fails in the second, as the child-process executor does."""

    def __init__(self) -> None:
        self.reported: list[str] = []

    async def run(self, task: TrainingTask, on_stage: OnStage, deadline: float,
                  on_progress: OnProgress = ignore_progress) -> TrainingResult:
        for stage in ("PREPARING_DATA", "TRAINING_MODEL"):
            await on_stage(StageReport(stage, {}))
        raise TrainingFailure("TRAINING_MODEL", "diverged")


def count(metrics: TrainerMetrics, stage: str) -> float | None:
    return metrics.registry.get_sample_value(
        "trainbridge_trainer_stage_duration_seconds_count",
        {"model_type": "ner", "stage": stage})


async def test_every_reported_stage_is_timed_and_passed_on_even_when_the_run_fails() -> None:
    metrics, passed_on = TrainerMetrics(), []
    executor = TimedExecutor(FailingInTraining(), metrics)

    async def on_stage(report: StageReport) -> None:
        passed_on.append(report.stage)

    with pytest.raises(TrainingFailure):
        await executor.run(TASK, on_stage, deadline=60)

    assert passed_on == ["PREPARING_DATA", "TRAINING_MODEL"]
    assert count(metrics, "PREPARING_DATA") == 1
    assert count(metrics, "TRAINING_MODEL") == 1
    assert count(metrics, "PREDICTING") is None


def test_a_trainer_registry_starts_with_no_job_running_and_no_takeover() -> None:
    metrics = TrainerMetrics()

    assert metrics.registry.get_sample_value("trainbridge_trainer_jobs_running") == 0
    assert metrics.registry.get_sample_value("trainbridge_trainer_lease_takeovers_total") == 0
