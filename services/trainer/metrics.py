"""Prometheus metrics of one trainer process (its own registry: nothing global at import)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram

from eventlog.metrics import OutboxBacklog, service_registry

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
        self.lease_renewals = Counter(
            "trainbridge_trainer_lease_renewals",
            "Leases of running jobs renewed (the heartbeat of a training in progress, every "
            "third of the lease)", registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "trainbridge_trainer_stage_duration_seconds",
            "Duration of one training stage, by model type and stage (a failed stage "
            "included)", ["model_type", "stage"], registry=self.registry,
            buckets=(0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200),
        )
        self.relay_backlog = OutboxBacklog(self.registry)

    def stage_observer(self, model_type: str) -> Callable[[str, float], None]:
        """Records one ended stage's duration for ``model_type`` (given to the run's
        :class:`~services.trainer.progress.StageLog`, which times the stages)."""
        def observe(stage: str, seconds: float) -> None:
            self.stage_seconds.labels(model_type, stage).observe(seconds)

        return observe
