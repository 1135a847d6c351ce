"""The training-job queue contract (a unit of work queues and closes jobs; trainers claim,
renew and hand them back), run against the in-memory twin and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from eventlog.postgres import Database, PostgresEventStore
from services.trainer.jobs import PostgresTrainingJobs, TrainingJob, TrainingJobs
from services.trainer.jobs_memory import InMemoryTrainingJobs, JobTable
from services.trainer.unit_of_work import InMemoryTrainerStore, PostgresTrainerStore, TrainerStore


@dataclass
class Queue:
    store: TrainerStore
    trainer: Callable[[str, float], TrainingJobs]
    """A trainer's hold on the queue: (trainer id, lease seconds)."""


@pytest.fixture
def memory_queue() -> Queue:
    table = JobTable()
    return Queue(InMemoryTrainerStore(jobs=table),
                 lambda trainer, lease: InMemoryTrainingJobs(table, trainer, lease))


@pytest.fixture
def postgres_queue(database: Database) -> Queue:
    return Queue(PostgresTrainerStore(PostgresEventStore(database.pool)),
                 lambda trainer, lease: PostgresTrainingJobs(database, trainer, lease))


@pytest.fixture(params=["memory", "postgres"])
def queue(request: pytest.FixtureRequest) -> Queue:
    """Each contract test runs once per implementation."""
    implementation: Queue = request.getfixturevalue(f"{request.param}_queue")
    return implementation


async def enqueue(queue: Queue, run: str, attempt: int = 1) -> None:
    async with queue.store.unit_of_work() as uow:
        await uow.jobs.enqueue(stream_id=f"model_run-{run}", attempt=attempt,
                               model_type="ner", model_run_id=run, model_id="model-1",
                               export_uri=f"file:///exports/{run}", export_sha256="abc")


async def finish(queue: Queue, job: TrainingJob, trainer: str, *, succeeded: bool = True
                 ) -> bool:
    async with queue.store.unit_of_work() as uow:
        return await uow.jobs.finish(job, claimed_by=trainer, succeeded=succeeded)


async def test_a_queued_job_is_claimed_by_one_trainer(queue: Queue) -> None:
    await enqueue(queue, "run-1")

    job = await queue.trainer("trainer-a", 30).claim()

    assert job == TrainingJob("model_run-run-1", 1, "ner", "run-1", "model-1",
                              "file:///exports/run-1", "abc", claims=1)
    assert await queue.trainer("trainer-b", 30).claim() is None


async def test_queueing_the_same_attempt_again_queues_nothing(queue: Queue) -> None:
    await enqueue(queue, "run-1")
    await enqueue(queue, "run-1")
    await enqueue(queue, "run-1", attempt=2)

    trainer = queue.trainer("trainer-a", 30)
    claimed = [await trainer.claim() for _ in range(3)]

    assert [(j.stream_id, j.attempt) if j else None for j in claimed] == [
        ("model_run-run-1", 1), ("model_run-run-1", 2), None]


async def test_jobs_are_claimed_oldest_first(queue: Queue) -> None:
    for run in ("run-b", "run-a", "run-c"):
        await enqueue(queue, run)

    trainer = queue.trainer("trainer-a", 30)
    claimed = [await trainer.claim() for _ in range(3)]

    assert [j.model_run_id for j in claimed if j] == ["run-b", "run-a", "run-c"]


async def test_a_job_queued_in_a_failed_unit_of_work_is_not_queued(queue: Queue) -> None:
    with pytest.raises(RuntimeError):
        async with queue.store.unit_of_work() as uow:
            await uow.jobs.enqueue(stream_id="model_run-run-1", attempt=1, model_type="ner",
                                   model_run_id="run-1", model_id=None, export_uri="file:///x",
                                   export_sha256="abc")
            raise RuntimeError("handler failed")

    assert await queue.trainer("trainer-a", 30).claim() is None


async def test_only_the_holder_finishes_a_job_and_a_finished_job_is_not_claimed_again(
    queue: Queue,
) -> None:
    await enqueue(queue, "run-1")
    job = await queue.trainer("trainer-a", 30).claim()
    assert job is not None

    assert not await finish(queue, job, "trainer-b")
    assert await finish(queue, job, "trainer-a", succeeded=False)
    assert not await finish(queue, job, "trainer-a")
    assert await queue.trainer("trainer-b", 0.01).claim() is None


async def test_a_finish_in_a_failed_unit_of_work_leaves_the_job_held(queue: Queue) -> None:
    await enqueue(queue, "run-1")
    trainer = queue.trainer("trainer-a", 30)
    job = await trainer.claim()
    assert job is not None

    with pytest.raises(RuntimeError):
        async with queue.store.unit_of_work() as uow:
            assert await uow.jobs.finish(job, claimed_by="trainer-a", succeeded=True)
            raise RuntimeError("append failed")

    assert await trainer.heartbeat(job)
    assert await finish(queue, job, "trainer-a")


async def test_a_released_job_is_claimed_again_without_counting_the_claim(
    queue: Queue,
) -> None:
    await enqueue(queue, "run-1")
    job = await queue.trainer("trainer-a", 30).claim()
    assert job is not None

    await queue.trainer("trainer-a", 30).release(job)
    again = await queue.trainer("trainer-b", 30).claim()

    assert again is not None and again.claims == 1


async def test_a_lapsed_lease_lets_another_trainer_take_the_job_over(queue: Queue) -> None:
    await enqueue(queue, "run-1")
    first = queue.trainer("trainer-a", 0.05)
    job = await first.claim()
    assert job is not None
    assert await first.heartbeat(job)

    await asyncio.sleep(0.2)
    taken = await queue.trainer("trainer-b", 30).claim()

    assert taken is not None and taken.claims == 2
    assert not await first.heartbeat(job)
    assert not await finish(queue, job, "trainer-a")
    assert await finish(queue, taken, "trainer-b")


async def test_a_renewed_lease_keeps_the_job(queue: Queue) -> None:
    await enqueue(queue, "run-1")
    holder = queue.trainer("trainer-a", 0.5)
    job = await holder.claim()
    assert job is not None

    for _ in range(3):
        await asyncio.sleep(0.2)
        assert await holder.heartbeat(job)

    assert await queue.trainer("trainer-b", 30).claim() is None
