"""Each training stage is timed, by model type and stage: a stage ends when the next one
starts, the last one when the run ends, failed runs included."""

from __future__ import annotations

from services.trainer.metrics import TrainerMetrics
from services.trainer.progress import StageLog


def count(metrics: TrainerMetrics, stage: str) -> float | None:
    return metrics.registry.get_sample_value(
        "trainbridge_trainer_stage_duration_seconds_count",
        {"model_type": "ner", "stage": stage})


def test_every_reported_stage_is_timed_even_when_the_run_fails() -> None:
    metrics = TrainerMetrics()
    stages = StageLog("model_run-run-1", observe=metrics.stage_observer("ner"))

    for stage in ("PREPARING_DATA", "TRAINING_MODEL"):
        stages.started(stage, {})
    stages.ended("failed")

    assert count(metrics, "PREPARING_DATA") == 1
    assert count(metrics, "TRAINING_MODEL") == 1
    assert count(metrics, "PREDICTING") is None


def test_a_trainer_registry_starts_with_no_job_running_and_no_takeover() -> None:
    metrics = TrainerMetrics()

    assert metrics.registry.get_sample_value("trainbridge_trainer_jobs_running") == 0
    assert metrics.registry.get_sample_value("trainbridge_trainer_lease_takeovers_total") == 0
