"""The trainer's settings, declared here and read once at the entry point."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

from eventlog.config import Family, Integer, Number, PerCpu, Text, usable_cpus
from eventlog.settings import ARTIFACTS_URL


def _seconds(name: str, default: float, description: str) -> Number:
    return Number(name=name, default=default, minimum=0.001, description=description)


LEASE_SECONDS = _seconds("TRAINBRIDGE_TRAINER_LEASE_SECONDS", 60.0,
                         "a training claim's lease; renewed every third of it")
DEADLINE_SECONDS = _seconds("TRAINBRIDGE_DEADLINE_SECONDS", 3600.0,
                            "longest a training run may take")
DEADLINES = Family(  # each's default is never used: a member is read only when it is set
    each=_seconds("TRAINBRIDGE_DEADLINE_SECONDS_<MODEL_TYPE>", DEADLINE_SECONDS.default,
                  "the same for one model type, e.g. "
                  "`TRAINBRIDGE_DEADLINE_SECONDS_TEXT_SINGLE_CLASSIFICATION=600`"),
    shown_default="`TRAINBRIDGE_DEADLINE_SECONDS`")
CONCURRENCY = PerCpu(
    name="TRAINBRIDGE_TRAINER_CONCURRENCY",
    description="training jobs one trainer runs at once, each in a child process of its own "
                "(with its deadline, memory limit and lease)")
MEMORY_LIMIT_BYTES = Integer(
    name="TRAINBRIDGE_TRAINING_MEMORY_LIMIT_BYTES", default=0, minimum=0,
    description="address-space limit of a training child process (`0`: no limit): a blow-up "
                "fails the run with a `MemoryError` instead of inviting the OOM killer")
PROGRESS_INTERVAL = _seconds("TRAINBRIDGE_PROGRESS_INTERVAL_SECONDS", 5.0,
                             "at most one `TrainingProgressed` event per run per interval")
FETCH_TIMEOUT = _seconds("TRAINBRIDGE_FETCH_TIMEOUT_SECONDS", 30.0,
                         "timeout for fetching one data row's content")
FETCH_MAX_BYTES = Integer(name="TRAINBRIDGE_FETCH_MAX_BYTES", default=20 * 1024 * 1024,
                          minimum=1, description="largest data row content fetched")
FETCH_CONCURRENCY = Integer(name="TRAINBRIDGE_FETCH_CONCURRENCY", default=8, minimum=1,
                            description="data rows fetched at once")
METRICS_HOST = Text(name="TRAINBRIDGE_TRAINER_METRICS_HOST", default="0.0.0.0",
                    description="the address of the trainer's `/healthz` and `/metrics`")
METRICS_PORT = Integer(
    name="TRAINBRIDGE_TRAINER_METRICS_PORT", default=9101, minimum=0, maximum=65535,
    description="the port of the trainer's `/healthz` and `/metrics` (`0`: off; "
                "`trainbridge trainer --metrics-port` overrides it)")
SETTINGS = (ARTIFACTS_URL, CONCURRENCY, LEASE_SECONDS, DEADLINE_SECONDS, DEADLINES,
            MEMORY_LIMIT_BYTES, PROGRESS_INTERVAL, FETCH_TIMEOUT, FETCH_MAX_BYTES,
            FETCH_CONCURRENCY, METRICS_HOST, METRICS_PORT)


@dataclass(frozen=True)
class FetchLimits:
    """How data row content is fetched (services.trainer.fetch)."""

    timeout: float = FETCH_TIMEOUT.default
    max_bytes: int = FETCH_MAX_BYTES.default
    concurrency: int = FETCH_CONCURRENCY.default


@dataclass(frozen=True)
class TrainerSettings:
    artifacts_url: str
    trainer_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    concurrency: int = field(default_factory=usable_cpus)
    """Training jobs run at once (each in its own child process)."""
    lease_seconds: float = LEASE_SECONDS.default
    max_claims: int = 3
    """Claims of one job (the first, plus takeovers after a trainer died) before it fails."""
    deadline_seconds: float = DEADLINE_SECONDS.default
    deadlines: dict[str, float] = field(default_factory=dict)
    """Per model type, overriding ``deadline_seconds``."""
    poll_interval: float = 1.0
    memory_limit_bytes: int | None = None
    """Address-space limit of a training child process (``None``: no limit)."""
    fetch: FetchLimits = field(default_factory=FetchLimits)
    progress_interval: float = PROGRESS_INTERVAL.default
    """Seconds between two ``TrainingProgressed`` events of a run (at most)."""
    metrics_host: str = METRICS_HOST.default
    metrics_port: int = METRICS_PORT.default
    """Port of ``/healthz`` and ``/metrics`` (``0``: not served)."""

    def deadline_for(self, model_type: str) -> float:
        return self.deadlines.get(model_type, self.deadline_seconds)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> TrainerSettings:
        return cls(
            artifacts_url=ARTIFACTS_URL.read(environ),
            concurrency=CONCURRENCY.read(environ),
            lease_seconds=LEASE_SECONDS.read(environ),
            deadline_seconds=DEADLINE_SECONDS.read(environ),
            deadlines=DEADLINES.read(environ),
            memory_limit_bytes=MEMORY_LIMIT_BYTES.read(environ) or None,
            progress_interval=PROGRESS_INTERVAL.read(environ),
            fetch=FetchLimits(
                timeout=FETCH_TIMEOUT.read(environ),
                max_bytes=FETCH_MAX_BYTES.read(environ),
                concurrency=FETCH_CONCURRENCY.read(environ),
            ),
            metrics_host=METRICS_HOST.read(environ),
            metrics_port=METRICS_PORT.read(environ),
        )
