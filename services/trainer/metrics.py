"""Prometheus metrics of one trainer process (its own registry: nothing global at import)."""

from __future__ import annotations

from prometheus_client import Counter

from eventlog.metrics import service_registry

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
