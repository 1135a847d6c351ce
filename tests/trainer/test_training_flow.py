"""The trainer on the real event log: from TrainingRequested to TrainingCompleted (or a
TrainingFailed that says why), with durable, leased claims."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path

import asyncpg
import httpx
import pytest

from eventlog import NewEvent, RecordedEvent, event_metadata
from eventlog.artifacts import read_artifact, write_artifact
from eventlog.postgres import Database, PostgresEventStore
from services.trainer.bootstrap import build_trainer
from services.trainer.executor import ChildProcessExecutor
from services.trainer.handlers import make_handler
from services.trainer.jobs import PostgresTrainingJobs
from services.trainer.metrics import TrainerMetrics
from services.trainer.registry import load_pipelines
from services.trainer.settings import TrainerSettings
from services.trainer.unit_of_work import PostgresTrainerStore
from services.trainer.worker import TrainingWorker
from tests.integration.helpers import eventually
from tests.trainer.datasets import label_of, text_examples

STREAM = "model_run-run-1"


def export_lines(n: int = 150, unlabelled: int = 3) -> bytes:
    rows = []
    for e in text_examples(n, unlabelled=unlabelled):
        run: dict[str, object] = {"labels": []}
        if label_of(e):
            run["labels"] = [{"annotations": {"classifications": [
                {"name": "topic", "radio_answer": {"name": label_of(e)}}]}}]
        rows.append({"data_row": {"id": e.data_row_id, "row_data": e.content},
                     "experiments": {"model-1": {"runs": {"run-1": run}}}})
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


async def request_training(store: PostgresEventStore, model_type: str) -> RecordedEvent:
    await store.append(STREAM, [NewEvent(
        "TrainingRequested",
        {"modelType": model_type, "modelRunId": "run-1", "modelId": "model-1", "attempt": 1},
        event_metadata(producer="ingest", correlation_id="corr-1"),
    )])
    return (await store.read_stream(STREAM))[-1]


async def handle(store: PostgresEventStore, event: RecordedEvent) -> None:
    async with PostgresTrainerStore(store).unit_of_work() as uow:
        await make_handler(load_pipelines())(uow, event)


async def export_data(store: PostgresEventStore, tmp_path: Path, lines: bytes) -> RecordedEvent:
    artifact = write_artifact(f"file://{tmp_path}/exports/run-1.ndjson", lines)
    await store.append(STREAM, [NewEvent(
        "DataExported", {"attempt": 1, "uri": artifact.uri, "sha256": artifact.sha256},
        event_metadata(producer="reporter", correlation_id="corr-1"))])
    return (await store.read_stream(STREAM))[-1]


def worker(database: Database, settings: TrainerSettings,
           http: httpx.AsyncClient) -> TrainingWorker:
    """The worker as ``trainbridge trainer`` wires it."""
    return build_trainer(settings, database, http, pipelines=load_pipelines(),
                         executor=ChildProcessExecutor()).worker


async def types_of(store: PostgresEventStore) -> list[str]:
    return [e.event_type for e in await store.read_stream(STREAM)]


async def test_a_request_asks_for_the_data_then_a_queued_job_trains_to_completion(
    store: PostgresEventStore, database: Database, settings: TrainerSettings,
    http: httpx.AsyncClient, tmp_path: Path, sql: asyncpg.Connection,
) -> None:
    await handle(store, await request_training(store, "text_single_classification"))
    asked = (await store.read_stream(STREAM))[-1]
    assert asked.event_type == "DataExportRequested"
    assert asked.data["attempt"] == 1 and asked.correlation_id == "corr-1"

    await handle(store, await export_data(store, tmp_path, export_lines()))
    job = await PostgresTrainingJobs(database, "trainer-a", 30).claim()
    assert job is not None and job.claims == 1
    await worker(database, settings, http).process(job)

    events = await store.read_stream(STREAM)
    assert [e.event_type for e in events] == [
        "TrainingRequested", "DataExportRequested", "DataExported",
        "StageStarted", "StageStarted", "TrainingProgressed", "StageStarted", "StageStarted",
        "ModelEvaluated", "PredictionsProduced", "TrainingCompleted",
    ]
    stages = [e.data["stage"] for e in events if e.event_type == "StageStarted"]
    assert stages == ["PREPARING_DATA", "TRAINING_MODEL", "PREDICTING", "EVALUATING"]
    progressed = events[5].data
    assert (progressed["stage"], progressed["step"], progressed["total"]) == (
        "TRAINING_MODEL", 1, 1)
    evaluated, produced, completed = events[-3:]
    assert evaluated.data["metrics"]["scores"]["accuracy"] >= 0.9
    assert set(evaluated.data["metrics"]["perClass"]["f1"]) == {
        "topic/finance", "topic/sports", "topic/weather"}
    assert produced.data["count"] == 153 and produced.data["lines"] == 306
    assert len(read_artifact(produced.data["uri"], produced.data["sha256"]).splitlines()) == 306
    assert read_artifact(completed.data["modelUri"], completed.data["modelSha256"])
    # the metadata Labelbox will show holds no path on the trainer's host
    assert not any("file:" in value for value in completed.data["metadata"].values())
    assert float(completed.data["metadata"]["accuracy"]) >= 0.9
    assert all(isinstance(v, str) for v in completed.data["metadata"].values())
    assert completed.data["config"]["model_type"] == "text_single_classification"
    assert completed.data["config"]["C"] == 10.0
    assert all(e.correlation_id == "corr-1" for e in events)
    assert await sql.fetchval("SELECT status FROM training_jobs") == "done"


async def test_the_log_follows_each_stage_of_a_run_with_its_duration(
    store: PostgresEventStore, database: Database, settings: TrainerSettings,
    http: httpx.AsyncClient, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    await handle(store, await request_training(store, "text_single_classification"))
    await handle(store, await export_data(store, tmp_path, export_lines()))
    job = await PostgresTrainingJobs(database, "trainer-a", 30).claim()
    assert job is not None
    caplog.set_level(logging.INFO, logger="services.trainer")

    await worker(database, settings, http).process(job)

    stages = [r.getMessage() for r in caplog.records if ": stage " in r.getMessage()]
    assert [" ".join(line.split()[2:4]) for line in stages] == [
        "PREPARING_DATA started", "PREPARING_DATA finished", "TRAINING_MODEL started",
        "TRAINING_MODEL finished", "PREDICTING started", "PREDICTING finished",
        "EVALUATING started", "EVALUATING finished"]
    assert all(line.startswith(f"{STREAM}: stage ") for line in stages)
    assert all(re.search(r" finished in \d+\.\ds$", line) for line in stages[1::2])


async def test_an_unknown_model_type_fails_at_once(store: PostgresEventStore) -> None:
    await handle(store, await request_training(store, "keypoints"))

    failed = (await store.read_stream(STREAM))[-1]
    assert failed.event_type == "TrainingFailed"
    assert failed.data["message"] == "No pipeline trains modelType 'keypoints' on this server"


async def test_unloadable_data_fails_the_run_while_preparing_data(
    store: PostgresEventStore, database: Database, settings: TrainerSettings,
    http: httpx.AsyncClient, tmp_path: Path,
) -> None:
    await handle(store, await request_training(store, "text_single_classification"))
    broken = json.dumps({
        "data_row": {"id": "dr-1", "row_data": "http://127.0.0.1:9/gone.txt"},
        "experiments": {"model-1": {"runs": {"run-1": {"labels": [{"annotations": {
            "classifications": [{"name": "topic", "radio_answer": {"name": "a"}}]}}]}}}},
    }).encode() + b"\n"
    await handle(store, await export_data(store, tmp_path, broken))
    job = await PostgresTrainingJobs(database, "trainer-a", 30).claim()
    assert job is not None

    await worker(database, settings, http).process(job)

    failed = (await store.read_stream(STREAM))[-1]
    assert failed.event_type == "TrainingFailed" and failed.data["stage"] == "PREPARING_DATA"
    assert "dr-1" in failed.data["message"] and len(failed.data["message"]) <= 255


async def test_a_run_over_its_model_types_deadline_fails_with_a_clear_message(
    store: PostgresEventStore, database: Database, settings: TrainerSettings,
    http: httpx.AsyncClient, tmp_path: Path,
) -> None:
    await handle(store, await request_training(store, "text_single_classification"))
    await handle(store, await export_data(store, tmp_path, export_lines(40_000, 0)))
    job = await PostgresTrainingJobs(database, "trainer-a", 30).claim()
    assert job is not None
    # Far below what reading and training 40,000 rows takes on any machine (a deadline near
    # the real training time made this test pass or fail with the machine's load).
    tight = TrainerSettings(artifacts_url=settings.artifacts_url, trainer_id="trainer-a",
                            deadlines={"text_single_classification": 0.1})

    await worker(database, tight, http).process(job)

    failed = (await store.read_stream(STREAM))[-1]
    assert failed.event_type == "TrainingFailed"
    assert failed.data["message"].startswith("Deadline of 0.1s exceeded while")


async def test_one_trainer_at_a_time_and_a_dead_trainers_job_is_taken_over(
    store: PostgresEventStore, database: Database, tmp_path: Path,
) -> None:
    await handle(store, await request_training(store, "text_single_classification"))
    await handle(store, await export_data(store, tmp_path, export_lines()))
    a = PostgresTrainingJobs(database, "trainer-a", lease_seconds=0.5)
    b = PostgresTrainingJobs(database, "trainer-b", lease_seconds=30)

    first = await a.claim()
    assert first is not None and await b.claim() is None  # held by a live lease
    await asyncio.sleep(0.7)  # trainer-a died: no heartbeat
    taken = await b.claim()

    assert taken is not None and taken.claims == 2
    assert not await a.heartbeat(first)  # trainer-a, if it comes back, learns it lost the job
    assert await b.heartbeat(taken)


async def test_a_running_trainer_takes_over_a_dead_trainers_job_and_counts_the_takeover(
    store: PostgresEventStore, database: Database, http: httpx.AsyncClient, tmp_path: Path,
) -> None:
    await handle(store, await request_training(store, "text_single_classification"))
    await handle(store, await export_data(store, tmp_path, export_lines()))
    died = await PostgresTrainingJobs(database, "trainer-dead", lease_seconds=0.05).claim()
    assert died is not None  # claimed, then its trainer died: the lease is never renewed
    await asyncio.sleep(0.1)
    metrics = TrainerMetrics()
    settings = TrainerSettings(artifacts_url=f"file://{tmp_path}/artifacts",
                               trainer_id="trainer-a", lease_seconds=0.6, poll_interval=0.05)
    trainer = build_trainer(settings, database, http, pipelines=load_pipelines(),
                            executor=ChildProcessExecutor(), metrics=metrics)
    stop = asyncio.Event()
    running = asyncio.create_task(trainer.worker.run(stop))

    async def completed() -> bool:
        return "TrainingCompleted" in await types_of(store)

    try:
        await eventually(completed, timeout=60)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
    sample = metrics.registry.get_sample_value

    assert sample("trainbridge_trainer_lease_takeovers_total") == 1
    assert sample("trainbridge_trainer_jobs_claimed_total") == 1
    assert sample("trainbridge_trainer_jobs_finished_total", {"result": "succeeded"}) == 1
    assert sample("trainbridge_trainer_jobs_running") == 0


async def test_a_training_jobs_lease_is_renewed_every_third_of_it_and_each_renewal_counted(
    store: PostgresEventStore, database: Database, http: httpx.AsyncClient, tmp_path: Path,
) -> None:
    # The heartbeat the alerts watch. A training that lasts as long as the test wants (the
    # work task) instead of a real one, whose length depends on the machine.
    await handle(store, await request_training(store, "text_single_classification"))
    await handle(store, await export_data(store, tmp_path, export_lines()))
    metrics = TrainerMetrics()
    settings = TrainerSettings(artifacts_url=f"file://{tmp_path}/artifacts",
                               trainer_id="trainer-a", lease_seconds=0.3)
    trainer = build_trainer(settings, database, http, pipelines=load_pipelines(),
                            executor=ChildProcessExecutor(), metrics=metrics)
    job = await PostgresTrainingJobs(database, "trainer-a", lease_seconds=0.3).claim()
    assert job is not None
    training = asyncio.create_task(asyncio.sleep(60))
    keeper = asyncio.create_task(trainer.worker._keep_lease(job, training))

    await asyncio.sleep(0.75)  # renewals due at 0.1, 0.2, ... s
    kept = not training.done()  # a refused heartbeat would have cancelled the training
    keeper.cancel()
    training.cancel()
    await asyncio.gather(keeper, training, return_exceptions=True)

    renewals = metrics.registry.get_sample_value("trainbridge_trainer_lease_renewals_total")
    assert kept
    assert renewals is not None and renewals >= 2


async def test_a_job_claimed_too_many_times_fails_instead_of_looping(
    store: PostgresEventStore, database: Database, settings: TrainerSettings,
    http: httpx.AsyncClient, tmp_path: Path,
) -> None:
    await handle(store, await request_training(store, "text_single_classification"))
    await handle(store, await export_data(store, tmp_path, export_lines()))
    jobs = PostgresTrainingJobs(database, "trainer-a", lease_seconds=0.01)
    for _ in range(settings.max_claims + 1):
        job = await jobs.claim()
        assert job is not None
        await asyncio.sleep(0.05)

    await worker(database, settings, http).process(job)

    failed = (await store.read_stream(STREAM))[-1]
    assert failed.event_type == "TrainingFailed"
    assert "interrupted 3 times" in failed.data["message"]


async def test_a_trainer_that_loses_its_claim_stops_and_appends_nothing_more(
    store: PostgresEventStore, database: Database, http: httpx.AsyncClient, tmp_path: Path,
    sql: asyncpg.Connection,
) -> None:
    await handle(store, await request_training(store, "text_single_classification"))
    await handle(store, await export_data(store, tmp_path, export_lines(40_000, 0)))
    settings = TrainerSettings(artifacts_url=f"file://{tmp_path}/artifacts",
                               trainer_id="trainer-a", lease_seconds=0.6)
    job = await PostgresTrainingJobs(database, "trainer-a", 0.6).claim()
    assert job is not None
    training = asyncio.create_task(worker(database, settings, http).process(job))

    async def started() -> bool:
        return "StageStarted" in await types_of(store)

    await eventually(started, timeout=30)
    # Another trainer took the job over (as after a network partition).
    await sql.execute("UPDATE training_jobs SET claimed_by = 'trainer-b'")
    await asyncio.wait_for(training, 10)

    assert not {"TrainingCompleted", "TrainingFailed"} & set(await types_of(store))


async def test_a_stopping_trainer_hands_its_job_back_without_waiting_for_the_deadline(
    store: PostgresEventStore, database: Database, settings: TrainerSettings,
    http: httpx.AsyncClient, tmp_path: Path, sql: asyncpg.Connection,
) -> None:
    await handle(store, await request_training(store, "text_single_classification"))
    await handle(store, await export_data(store, tmp_path, export_lines(40_000, 0)))
    stop = asyncio.Event()
    running = asyncio.create_task(worker(database, settings, http).run(stop))

    async def training() -> bool:
        return "StageStarted" in await types_of(store)

    await eventually(training, timeout=30)
    stop.set()
    await asyncio.wait_for(running, 10)

    job = await sql.fetchrow("SELECT status, claims, claimed_by FROM training_jobs")
    assert (job["status"], job["claims"], job["claimed_by"]) == ("pending", 0, None)
    assert not {"TrainingCompleted", "TrainingFailed"} & set(await types_of(store))
