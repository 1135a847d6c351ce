"""In-memory twins of the training-job queue, for unit tests. They pass the same contract
suite as the PostgreSQL queue (tests/contract/test_training_jobs.py)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from services.trainer.jobs import TrainingJob


@dataclass
class _Row:
    job: TrainingJob
    order: int
    status: str = "pending"
    claimed_by: str | None = None
    lease_until: float | None = None


class JobTable:
    """The rows of ``training_jobs``, shared by every trainer of a test."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.rows: dict[tuple[str, int], _Row] = {}
        self._order = itertools.count()

    def next_order(self) -> int:
        return next(self._order)

    def status(self, stream_id: str, attempt: int) -> str | None:
        row = self.rows.get((stream_id, attempt))
        return row.status if row else None

    def forget(self, key: tuple[str, int]) -> None:
        self.rows.pop(key, None)

    def held(self, job: TrainingJob, trainer_id: str) -> _Row | None:
        row = self.rows.get((job.stream_id, job.attempt))
        if row is None or row.status != "running" or row.claimed_by != trainer_id:
            return None
        return row


class InMemoryTrainingJobs:
    def __init__(self, table: JobTable, trainer_id: str, lease_seconds: float) -> None:
        self._table = table
        self._trainer_id = trainer_id
        self.lease_seconds = lease_seconds

    @property
    def trainer_id(self) -> str:
        return self._trainer_id

    async def claim(self) -> TrainingJob | None:
        now = self._table.clock()
        claimable = [r for r in self._table.rows.values() if r.status == "pending" or (
            r.status == "running" and r.lease_until is not None and r.lease_until < now)]
        if not claimable:
            return None
        row = min(claimable, key=lambda r: r.order)
        row.job = replace(row.job, claims=row.job.claims + 1)
        row.status, row.claimed_by = "running", self.trainer_id
        row.lease_until = now + self.lease_seconds
        return row.job

    async def heartbeat(self, job: TrainingJob) -> bool:
        row = self._table.held(job, self.trainer_id)
        if row is None:
            return False
        row.lease_until = self._table.clock() + self.lease_seconds
        return True

    async def release(self, job: TrainingJob) -> None:
        row = self._table.held(job, self.trainer_id)
        if row is not None:
            row.job = replace(row.job, claims=row.job.claims - 1)
            row.status, row.claimed_by, row.lease_until = "pending", None, None


class InMemoryJobQueue:
    """The queue inside one unit of work: its changes are undone if the unit fails."""

    def __init__(self, table: JobTable) -> None:
        self._table = table
        self._undo: list[Callable[[], None]] = []

    async def enqueue(self, *, stream_id: str, attempt: int, model_type: str,
                      model_run_id: str, model_id: str | None, export_uri: str,
                      export_sha256: str) -> None:
        key = (stream_id, attempt)
        if key in self._table.rows:
            return
        self._table.rows[key] = _Row(TrainingJob(
            stream_id, attempt, model_type, model_run_id, model_id, export_uri, export_sha256,
            claims=0), self._table.next_order())
        self._undo.append(lambda: self._table.forget(key))

    async def finish(self, job: TrainingJob, *, claimed_by: str, succeeded: bool) -> bool:
        row = self._table.held(job, claimed_by)
        if row is None:
            return False
        before = (row.status, row.lease_until)
        row.status, row.lease_until = ("done" if succeeded else "failed"), None

        def undo() -> None:
            row.status, row.lease_until = before

        self._undo.append(undo)
        return True

    def roll_back(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()
