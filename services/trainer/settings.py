"""The trainer's settings, read once at the entry point."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

from eventlog.settings import read_artifacts_url, read_integer, read_number, read_setting
from services.trainer.fetch import FetchLimits


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    return read_number(environ, name, default, minimum=0.001)


@dataclass(frozen=True)
class TrainerSettings:
    artifacts_url: str
    trainer_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    lease_seconds: float = 60.0
    max_claims: int = 3
    """Claims of one job (the first, plus takeovers after a trainer died) before it fails."""
    deadline_seconds: float = 3600.0
    deadlines: dict[str, float] = field(default_factory=dict)
    """Per model type, overriding ``deadline_seconds``."""
    poll_interval: float = 1.0
    memory_limit_bytes: int | None = None
    """Address-space limit of a training child process (``None``: no limit)."""
    fetch: FetchLimits = field(default_factory=FetchLimits)
    progress_interval: float = 5.0
    """Seconds between two ``TrainingProgressed`` events of a run (at most)."""
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9101
    """Port of ``/healthz`` and ``/metrics`` (``0``: not served)."""

    def deadline_for(self, model_type: str) -> float:
        return self.deadlines.get(model_type, self.deadline_seconds)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> TrainerSettings:
        artifacts = read_artifacts_url(environ)
        prefix = "TRAINBRIDGE_DEADLINE_SECONDS_"
        deadlines = {
            name[len(prefix):].lower(): _seconds(environ, name, 0)
            for name in environ if name.startswith(prefix) and not name.endswith("_FILE")
        }
        return cls(
            artifacts_url=artifacts,
            lease_seconds=_seconds(environ, "TRAINBRIDGE_TRAINER_LEASE_SECONDS", 60.0),
            deadline_seconds=_seconds(environ, "TRAINBRIDGE_DEADLINE_SECONDS", 3600.0),
            deadlines=deadlines,
            memory_limit_bytes=read_integer(
                environ, "TRAINBRIDGE_TRAINING_MEMORY_LIMIT_BYTES", 0, minimum=0
            ) or None,
            progress_interval=_seconds(environ, "TRAINBRIDGE_PROGRESS_INTERVAL_SECONDS", 5.0),
            fetch=FetchLimits(
                timeout=_seconds(environ, "TRAINBRIDGE_FETCH_TIMEOUT_SECONDS", 30.0),
                max_bytes=read_integer(environ, "TRAINBRIDGE_FETCH_MAX_BYTES", 20 * 1024 * 1024,
                                       minimum=1),
                concurrency=read_integer(environ, "TRAINBRIDGE_FETCH_CONCURRENCY", 8, minimum=1),
            ),
            metrics_host=read_setting(environ, "TRAINBRIDGE_TRAINER_METRICS_HOST", "0.0.0.0")
            or "0.0.0.0",
            metrics_port=read_integer(environ, "TRAINBRIDGE_TRAINER_METRICS_PORT", 9101,
                                      minimum=0),
        )
