"""One trainer runs several jobs at once, each in a child process of its own: up to its
concurrency and never more, each with its own lease, and a child that dies fails its own run
only."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import httpx
import pytest

from eventlog import NewEvent, event_metadata
from eventlog.artifacts import write_artifact
from eventlog.postgres import Database, PostgresEventStore
from services.trainer.bootstrap import build_trainer
from services.trainer.executor import ChildProcessExecutor
from services.trainer.metrics import TrainerMetrics
from services.trainer.registry import load_pipelines
from services.trainer.settings import TrainerSettings
from services.trainer.unit_of_work import PostgresTrainerStore
from tests.integration.helpers import eventually
from tests.trainer.datasets import label_of, text_examples


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Path]:
    """A folder the ``held`` pipeline's children report to (a ``started-<run>`` file each
    once training) and wait on (until an ``open`` file appears); ``crashing`` kills its own
    child process as an OOM kill would. Installed as a plug-in, with its dist-info."""
    folder = tmp_path / "gate"
    folder.mkdir()
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "gated_pipelines.py").write_text(textwrap.dedent(f'''
        import os
        import time
        from pathlib import Path

        from services.trainer.pipelines.text_classification import TextClassification

        GATE = Path({str(folder)!r})


        class Held(TextClassification):
            model_type = "held"

            def train(self, dataset, progress):
                run = dataset.examples[0].data_row_id.split(":")[0]
                (GATE / f"started-{{run}}").touch()
                while not (GATE / "open").exists():
                    time.sleep(0.02)
                return super().train(dataset, progress)


        class Crashing(TextClassification):
            model_type = "crashing"

            def train(self, dataset, progress):
                os._exit(137)
    '''))
    dist_info = plugin / "gated_pipelines-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: gated\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        "[trainbridge.pipelines]\nheld = gated_pipelines:Held\n"
        "crashing = gated_pipelines:Crashing\n")
    sys.path.insert(0, str(plugin))
    yield folder
    sys.path.remove(str(plugin))


def export_of(run: str) -> bytes:
    """A text classification export of ``run`` whose data row ids start with ``run:``."""
    rows = []
    for e in text_examples(30):
        rows.append({"data_row": {"id": f"{run}:{e.data_row_id}", "row_data": e.content},
                     "experiments": {"model-1": {"runs": {run: {"labels": [{"annotations": {
                         "classifications": [{"name": "topic",
                                              "radio_answer": {"name": label_of(e)}}]}}]}}}}})
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


async def queue_job(store: PostgresEventStore, tmp_path: Path, run: str, model_type: str) -> None:
    """A requested run whose data is exported, queued for training (as the handler does)."""
    stream = f"model_run-{run}"
    await store.append(stream, [NewEvent(
        "TrainingRequested",
        {"modelType": model_type, "modelRunId": run, "modelId": "model-1", "attempt": 1},
        event_metadata(producer="ingest", correlation_id=f"corr-{run}"))])
    export = write_artifact(f"file://{tmp_path}/exports/{run}.ndjson", export_of(run))
    async with PostgresTrainerStore(store).unit_of_work() as uow:
        await uow.jobs.enqueue(stream_id=stream, attempt=1, model_type=model_type,
                               model_run_id=run, model_id="model-1", export_uri=export.uri,
                               export_sha256=export.sha256)


async def outcome(store: PostgresEventStore, run: str) -> str | None:
    """The run's TrainingCompleted or TrainingFailed, once recorded."""
    types = [e.event_type for e in await store.read_stream(f"model_run-{run}")]
    return next((t for t in types if t in ("TrainingCompleted", "TrainingFailed")), None)


def started(gate: Path) -> set[str]:
    return {p.name.removeprefix("started-") for p in gate.glob("started-*")}


async def test_a_trainer_trains_up_to_its_concurrency_of_jobs_at_once_and_no_more(
    store: PostgresEventStore, database: Database, settings: TrainerSettings,
    http: httpx.AsyncClient, tmp_path: Path, sql: asyncpg.Connection, gate: Path,
) -> None:
    for run in ("run-a", "run-b", "run-c"):
        await queue_job(store, tmp_path, run, "held")
    metrics = TrainerMetrics()
    trainer = build_trainer(replace(settings, concurrency=2), database, http,
                            pipelines=load_pipelines(), executor=ChildProcessExecutor(),
                            metrics=metrics)
    stop = asyncio.Event()
    working = asyncio.create_task(trainer.worker.run(stop))

    async def two_training() -> bool:
        return len(started(gate)) == 2

    await eventually(two_training, timeout=60)
    await asyncio.sleep(1.0)  # ten claim polls: the third job must still wait for a slot
    assert started(gate) == {"run-a", "run-b"}  # the oldest two
    assert metrics.registry.get_sample_value("trainbridge_trainer_jobs_running") == 2
    jobs = dict(await sql.fetch("SELECT status, count(*) FROM training_jobs GROUP BY status"))
    assert jobs == {"running": 2, "pending": 1}
    leases = await sql.fetch("SELECT claimed_by, lease_until FROM training_jobs "
                             "WHERE status = 'running'")
    assert all(r["claimed_by"] == "trainer-a" and r["lease_until"] is not None for r in leases)

    (gate / "open").touch()

    async def all_completed() -> bool:
        return all([await outcome(store, run) == "TrainingCompleted"
                    for run in ("run-a", "run-b", "run-c")])

    await eventually(all_completed, timeout=60)
    stop.set()
    await asyncio.wait_for(working, 10)
    assert metrics.registry.get_sample_value("trainbridge_trainer_jobs_running") == 0
    assert metrics.registry.get_sample_value(
        "trainbridge_trainer_jobs_finished_total", {"result": "succeeded"}) == 3


async def test_a_child_that_dies_fails_its_own_run_and_the_others_go_on(
    store: PostgresEventStore, database: Database, settings: TrainerSettings,
    http: httpx.AsyncClient, tmp_path: Path, gate: Path,
) -> None:
    await queue_job(store, tmp_path, "run-held", "held")
    await queue_job(store, tmp_path, "run-crashing", "crashing")
    trainer = build_trainer(replace(settings, concurrency=2), database, http,
                            pipelines=load_pipelines(), executor=ChildProcessExecutor())
    stop = asyncio.Event()
    working = asyncio.create_task(trainer.worker.run(stop))

    async def one_crashed_while_the_other_trains() -> bool:
        return started(gate) == {"run-held"} and await outcome(store, "run-crashing") is not None

    await eventually(one_crashed_while_the_other_trains, timeout=60)
    failed = (await store.read_stream("model_run-run-crashing"))[-1]
    assert failed.event_type == "TrainingFailed"
    assert failed.data["message"] == "the training process died while training (exit code 137)"
    assert await outcome(store, "run-held") is None  # still training, untouched

    (gate / "open").touch()

    async def held_completed() -> bool:
        return await outcome(store, "run-held") == "TrainingCompleted"

    await eventually(held_completed, timeout=60)
    stop.set()
    await asyncio.wait_for(working, 10)
    assert not working.exception()
