"""`trainbridge trainer` as an operator runs it: it announces its pipelines, and a run goes
from TrainingRequested to TrainingCompleted through RabbitMQ (the test plays the reporter);
meanwhile its /healthz says it is working and /metrics counts the job."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import asyncpg
import httpx

from eventlog import NewEvent, event_metadata
from eventlog.artifacts import write_artifact
from eventlog.postgres import PostgresEventStore
from tests.conftest import BrokerNamespace
from tests.integration.helpers import Probe, eventually
from tests.ports import free_port
from tests.trainer.test_training_flow import STREAM, export_lines


async def counts_one_finished_job(http: httpx.AsyncClient) -> bool:
    """(Counted just after the outcome's commit: the test may look a moment before.)"""
    page = (await http.get("/metrics")).text
    return 'trainbridge_trainer_jobs_finished_total{result="succeeded"} 1.0' in page


async def test_the_trainer_process_announces_and_trains_a_run_end_to_end(
    database_url: str, broker: BrokerNamespace, store: PostgresEventStore,
    sql: asyncpg.Connection, tmp_path: Path,
) -> None:
    broker.consumers.add("trainer")
    # The reporter's queue stands in here: it takes every event type, so the relay never
    # holds a stream back for an event nobody is bound to (see docs/architecture.md, the
    # outbox relay).
    await Probe(broker, "reporter-stand-in").bind("#")
    health_port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trainbridge", "trainer",
        env={**os.environ, "TRAINBRIDGE_DATABASE_URL": database_url,
             "TRAINBRIDGE_AMQP_URL": broker.settings.url,
             "TRAINBRIDGE_AMQP_NAMESPACE": broker.settings.namespace,
             "TRAINBRIDGE_ARTIFACTS_URL": str(tmp_path / "artifacts"),
             "TRAINBRIDGE_RELAY_POLL_INTERVAL": "0.2",
             "TRAINBRIDGE_TRAINER_METRICS_HOST": "127.0.0.1",
             "TRAINBRIDGE_TRAINER_METRICS_PORT": str(health_port)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async def announced() -> bool:
            return bool(await sql.fetchval("SELECT count(*) FROM model_types"))

        await eventually(announced, 30)
        await store.append(STREAM, [NewEvent(
            "TrainingRequested",
            {"modelType": "text_single_classification", "modelRunId": "run-1",
             "modelId": "model-1", "attempt": 1},
            event_metadata(producer="ingest", correlation_id="corr-9"))])

        async def asked_for_data() -> bool:
            return any(e.event_type == "DataExportRequested"
                       for e in await store.read_stream(STREAM))

        await eventually(asked_for_data, 30)
        artifact = write_artifact(f"file://{tmp_path}/export.ndjson", export_lines())
        await store.append(STREAM, [NewEvent(  # what the reporter will do
            "DataExported", {"attempt": 1, "uri": artifact.uri, "sha256": artifact.sha256},
            event_metadata(producer="reporter", correlation_id="corr-9"))])

        async def completed() -> bool:
            return (await store.read_stream(STREAM))[-1].event_type == "TrainingCompleted"

        try:
            await eventually(completed, 60)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{health_port}") as http:
                healthz = await http.get("/healthz")
                await eventually(lambda: counts_one_finished_job(http), 10)
                page = (await http.get("/metrics")).text
        finally:
            process.send_signal(signal.SIGTERM)
            output = (await asyncio.wait_for(process.communicate(), 30))[0].decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert process.returncode == 0, output
    assert healthz.status_code == 200, healthz.text
    names = await sql.fetch("SELECT model_type FROM model_types ORDER BY 1")
    assert [r["model_type"] for r in names] == [
        "bounding_box", "image_multi_classification", "image_single_classification", "ner",
        "text_multi_classification", "text_single_classification",
    ]
    assert "trained (accuracy" in output
    stage = ('trainbridge_trainer_stage_duration_seconds_count{model_type='
             '"text_single_classification",stage="%s"} 1.0')
    assert all(stage % name in page
               for name in ("PREPARING_DATA", "TRAINING_MODEL", "PREDICTING", "EVALUATING"))
    assert "trainbridge_trainer_jobs_running 0.0" in page
    assert "trainbridge_trainer_lease_takeovers_total 0.0" in page
    assert 'trainbridge_consumer_messages_handled_total{queue="' in page
