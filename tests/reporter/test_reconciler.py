"""The reconciler on in-memory twins (no PostgreSQL, no Labelbox server): what it delivers
for a run's stream, in which order, and what the ledger then holds."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from eventlog.artifacts import write_artifact
from services.reporter.ledger import DELIVERED, PARKED
from tests.reporter import events as ev
from tests.reporter.fake_port import RecordingLabelbox
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


def reconciles(reporter: InMemoryReporter, trigger: str) -> float:
    value = reporter.metrics.registry.get_sample_value(
        "trainbridge_reporter_reconciles_total", {"trigger": trigger})
    return value or 0.0


async def test_a_run_is_reconciled_from_one_read_of_its_stream_when_nothing_fails(
    reporter: InMemoryReporter, tmp_path: Path,
) -> None:
    await reporter.request_training("run-1")
    await trained(reporter, "run-1", tmp_path)

    await reporter.reconcile("run-1")

    assert reporter.port.status_names("run-1")[-1] == "COMPLETE"
    assert reporter.store.reads == [("model_run-run-1", 1)]
    # Every call audited, the last call of each delivery with its ledger row.
    methods = [e.sdk_method for e in reporter.audit.entries]
    assert methods.count("ModelRun.update_status") == len(reporter.port.statuses) > 3
    assert methods.count("MEAPredictionImport.statuses") == 1
    delivered = await reporter.ledger.entries("model_run-run-1")
    assert {e.context.delivery_key for e in reporter.audit.entries} == set(delivered)


async def test_a_failure_the_reporter_appends_is_read_and_delivered_in_the_same_pass(
    reporter: InMemoryReporter,
) -> None:
    reporter.port.export_state = "FAILED"
    await reporter.request_training("run-1")

    await reporter.reconcile("run-1")

    assert reporter.port.status_names("run-1") == ["EXPORTING_DATA", "FAILED"]
    assert reporter.store.reads == [("model_run-run-1", 1), ("model_run-run-1", 3)]


async def test_a_wake_up_for_an_event_already_reconciled_here_is_skipped(
    reporter: InMemoryReporter, tmp_path: Path,
) -> None:
    await reporter.request_training("run-1")
    await reporter.reconciler.reconcile("model_run-run-1", "message", version=2)
    sent = list(reporter.port.statuses), list(reporter.port.exports)

    # A second message of the same burst, or a duplicate: nothing is read or called.
    await reporter.reconciler.reconcile("model_run-run-1", "message", version=1)
    await reporter.reconciler.reconcile("model_run-run-1", "message", version=2)
    assert reconciles(reporter, "message") == 1
    assert len(reporter.store.reads) == 1
    assert (reporter.port.statuses, reporter.port.exports) == sent

    await trained(reporter, "run-1", tmp_path)  # versions 4 to 8 (3 is DataExported)
    await reporter.reconciler.reconcile("model_run-run-1", "message", version=4)

    assert reconciles(reporter, "message") == 2
    assert reporter.port.status_names("run-1")[-1] == "COMPLETE"


@dataclass
class HoldingLabelbox(RecordingLabelbox):
    """Holds the ``held`` status update until ``release`` is set."""

    held: str = ""
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def update_status(self, model_run_id: str, status: str, metadata: Mapping[str, str],
                      error_message: str | None = None) -> None:
        if status == self.held:
            self.reached.set()
            self.release.wait(10)
        super().update_status(model_run_id, status, metadata, error_message)


async def test_the_acknowledgement_lane_finding_the_run_held_here_has_the_holder_read_on(
    tmp_path: Path,
) -> None:
    port = HoldingLabelbox(rows=ROWS, held="PREPARING_DATA")
    reporter = in_memory_reporter(tmp_path, port)
    try:
        await reporter.request_training("run-1")
        await reporter.reconcile("run-1")
        await trained(reporter, "run-1", tmp_path)
        holder = asyncio.create_task(reporter.reconcile("run-1"))
        assert await asyncio.to_thread(port.reached.wait, 10)

        await reporter.append("run-1", ev.requested("run-1", attempt=2))
        await reporter.reconciler.acknowledge("model_run-run-1")  # the run is held: it leaves
        port.release.set()
        await asyncio.wait_for(holder, 10)
    finally:
        reporter.calls.close()

    # The holder acknowledged attempt 2 next, instead of attempt 1's remaining statuses.
    assert [(status, metadata.get("attempt")) for _, status, metadata, _ in port.statuses] == [
        ("EXPORTING_DATA", "1"), ("PREPARING_DATA", None), ("EXPORTING_DATA", "2")]
