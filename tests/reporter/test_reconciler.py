"""The reconciler on in-memory twins (no PostgreSQL, no Labelbox server): what it delivers
for a run's stream, in which order, and what the ledger then holds."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from eventlog.artifacts import write_artifact
from services.reporter.ledger import DELIVERED, PARKED
from tests.reporter import events as ev
from tests.reporter.in_memory import InMemoryReporter, in_memory_reporter

ROWS = [{"data_row": {"id": f"dr-{n}"},
         "experiments": {"model-1": {"runs": {"run-1": {"labels": [{}], "split": "training"}}}}}
        for n in range(4)]


@pytest.fixture
async def reporter(tmp_path: Path) -> AsyncIterator[InMemoryReporter]:
    built = in_memory_reporter(tmp_path)
    built.port.rows = ROWS
    yield built
    built.calls.close()


async def trained(reporter: InMemoryReporter, run: str, tmp_path: Path) -> None:
    lines = [{"dataRow": {"id": row["data_row"]["id"]}, "answer": "x"} for row in ROWS]
    artifact = write_artifact(f"file://{tmp_path}/predictions/{run}.ndjson",
                              b"".join(json.dumps(line).encode() + b"\n" for line in lines))
    await reporter.append(run, ev.stage(run, "PREPARING_DATA"), ev.stage(run, "TRAINING_MODEL"),
                          ev.evaluated(run), ev.predictions(run, artifact.uri, artifact.sha256,
                                                            len(lines)),
                          ev.completed(run))


async def test_a_requested_run_is_acknowledged_and_its_data_exported(
    reporter: InMemoryReporter,
) -> None:
    await reporter.request_training("run-1")

    await reporter.reconcile("run-1")

    assert reporter.port.status_names("run-1") == ["EXPORTING_DATA"]
    assert reporter.port.exports == [("run-1", "trainbridge-run-1-attempt-1")]
    exported = [e for e in await reporter.stream("run-1") if e.event_type == "DataExported"]
    assert [(e.data["rows"], e.data["labels"]) for e in exported] == [(4, 4)]
    entries = await reporter.ledger.entries("model_run-run-1")
    assert {key: entry.state for key, entry in entries.items()} == {
        key: DELIVERED for key in entries} and len(entries) == 2


async def test_a_trained_run_is_completed_once_however_often_it_is_reconciled(
    reporter: InMemoryReporter, tmp_path: Path,
) -> None:
    await reporter.request_training("run-1")
    await reporter.reconcile("run-1")
    await trained(reporter, "run-1", tmp_path)

    for _ in range(3):
        await reporter.reconcile("run-1")

    names = reporter.port.status_names("run-1")
    assert [s for n, s in enumerate(names) if n == 0 or names[n - 1] != s] == [
        "EXPORTING_DATA", "PREPARING_DATA", "TRAINING_MODEL", "COMPLETE"]
    assert names.count("COMPLETE") == 1
    assert reporter.port.creates == 1 and len(reporter.port.exports) == 1


async def test_a_refused_delivery_is_parked_and_holds_the_run_until_a_redrive(
    reporter: InMemoryReporter,
) -> None:
    reporter.port.refuse.add("start_export")
    await reporter.request_training("run-1")

    await reporter.reconcile("run-1")
    await reporter.reconcile("run-1")

    [parked] = await reporter.ledger.parked()
    assert (parked.delivery_key, parked.state) == ("attempt-1/export", PARKED)
    assert len([e for e in reporter.audit.entries if e.sdk_method == "ModelRun.export"]) == 1

    reporter.port.refuse.clear()
    assert await reporter.ledger.request_redrive("run-1") == ["model_run-run-1"]
    await reporter.reconcile("run-1")

    assert await reporter.ledger.parked() == []
    assert len(reporter.port.exports) == 1


async def test_the_acknowledgement_lane_sends_only_the_first_status(
    reporter: InMemoryReporter,
) -> None:
    await reporter.request_training("run-1")

    await reporter.reconciler.acknowledge("model_run-run-1")

    assert reporter.port.status_names("run-1") == ["EXPORTING_DATA"]
    assert reporter.port.exports == []


async def test_a_stream_that_is_not_a_model_run_is_ignored(
    reporter: InMemoryReporter,
) -> None:
    await reporter.store.append("other-stream", [ev.requested("run-1")])

    await reporter.reconciler.reconcile("other-stream")

    assert reporter.port.statuses == [] and reporter.audit.entries == []
