"""Durable training claims. A job is queued in the same transaction that records the
``DataExported`` delivery in the inbox, so the delivery is acked at once; a trainer then
claims it with a lease it keeps renewing. A lease that runs out (the trainer died) lets any
trainer claim the job again; at most one trainer holds a job at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from eventlog.postgres import Connection, Database


@dataclass(frozen=True)
class TrainingJob:
    stream_id: str
    attempt: int
    model_type: str
    model_run_id: str
    model_id: str | None
    export_uri: str
    export_sha256: str
    claims: int


_ENQUEUE = """
INSERT INTO training_jobs (stream_id, attempt, model_type, model_run_id, model_id,
                           export_uri, export_sha256)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (stream_id, attempt) DO NOTHING
"""

_CLAIM = """
UPDATE training_jobs j
SET status = 'running', claimed_by = $1, claims = j.claims + 1,
    lease_until = now() + make_interval(secs => $2), updated_at = now()
FROM (
    SELECT stream_id, attempt FROM training_jobs
    WHERE status = 'pending' OR (status = 'running' AND lease_until < now())
    ORDER BY created_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
) next
WHERE j.stream_id = next.stream_id AND j.attempt = next.attempt
RETURNING j.stream_id, j.attempt, j.model_type, j.model_run_id, j.model_id, j.export_uri,
          j.export_sha256, j.claims
"""

_HEARTBEAT = """
UPDATE training_jobs SET lease_until = now() + make_interval(secs => $4), updated_at = now()
WHERE stream_id = $1 AND attempt = $2 AND claimed_by = $3 AND status = 'running'
"""

_RELEASE = """
UPDATE training_jobs SET status = 'pending', claimed_by = NULL, lease_until = NULL,
                         claims = claims - 1, updated_at = now()
WHERE stream_id = $1 AND attempt = $2 AND claimed_by = $3 AND status = 'running'
"""

_FINISH = """
UPDATE training_jobs SET status = $4, lease_until = NULL, updated_at = now()
WHERE stream_id = $1 AND attempt = $2 AND claimed_by = $3 AND status = 'running'
"""


class TrainingJobs(Protocol):
    """One trainer's hold on the queue, outside any unit of work."""

    @property
    def trainer_id(self) -> str: ...

    async def claim(self) -> TrainingJob | None:
        """The oldest pending job (or one whose lease ran out), now held by this trainer."""
        ...

    async def heartbeat(self, job: TrainingJob) -> bool:
        """Renew the lease; ``False`` when another trainer has taken the job over."""
        ...

    async def release(self, job: TrainingJob) -> None:
        """Hand a job back (this trainer is stopping); the claim does not count."""
        ...


class JobQueue(Protocol):
    """The queue inside a unit of work: what it does commits with the unit's events."""

    async def enqueue(self, *, stream_id: str, attempt: int, model_type: str,
                      model_run_id: str, model_id: str | None, export_uri: str,
                      export_sha256: str) -> None:
        """Queue a job (once: queueing the same stream and attempt again does nothing)."""
        ...

    async def finish(self, job: TrainingJob, *, claimed_by: str, succeeded: bool) -> bool:
        """Close the job; ``False`` if ``claimed_by`` no longer holds it (then the caller
        must not record an outcome)."""
        ...


class PostgresJobQueue:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        """The unit of work's connection, in its transaction."""

    async def enqueue(self, *, stream_id: str, attempt: int, model_type: str,
                      model_run_id: str, model_id: str | None, export_uri: str,
                      export_sha256: str) -> None:
        await self._connection.execute(_ENQUEUE, stream_id, attempt, model_type, model_run_id,
                                       model_id, export_uri, export_sha256)

    async def finish(self, job: TrainingJob, *, claimed_by: str, succeeded: bool) -> bool:
        result = await self._connection.execute(_FINISH, job.stream_id, job.attempt, claimed_by,
                                                "done" if succeeded else "failed")
        return bool(result.endswith(" 1"))


class PostgresTrainingJobs:
    def __init__(self, database: Database, trainer_id: str, lease_seconds: float) -> None:
        self._database = database
        self._trainer_id = trainer_id
        self.lease_seconds = lease_seconds

    @property
    def trainer_id(self) -> str:
        return self._trainer_id

    async def claim(self) -> TrainingJob | None:
        async with self._database.connection() as connection:
            row = await connection.fetchrow(_CLAIM, self.trainer_id, self.lease_seconds)
        return TrainingJob(**dict(row)) if row else None

    async def heartbeat(self, job: TrainingJob) -> bool:
        async with self._database.connection() as connection:
            result = await connection.execute(
                _HEARTBEAT, job.stream_id, job.attempt, self.trainer_id, self.lease_seconds
            )
        return bool(result.endswith(" 1"))

    async def release(self, job: TrainingJob) -> None:
        async with self._database.connection() as connection:
            await connection.execute(_RELEASE, job.stream_id, job.attempt, self.trainer_id)
