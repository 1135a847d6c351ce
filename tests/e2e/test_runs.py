"""End to end: a signed webhook becomes a run that Labelbox (the fake, through the real SDK)
sees go EXPORTING_DATA → PREPARING_DATA → TRAINING_MODEL → COMPLETE, with every Labelbox call
audited; a run whose pipeline fails ends FAILED with its message."""

from __future__ import annotations

import random

import asyncpg

from fake_labelbox.sample_rows import text_classification_rows
from tests.e2e.conftest import System, image_rows
from tests.reporter.test_reporting import collapsed
from tests.trainer.datasets import COLOURS, png
from tests.trainer.file_server import serving

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
AUDITED_AS = {  # the GraphQL operation each audited SDK call sends exactly once
    "setPipelineStatusPyApi": "ModelRun.update_status",
    "exportDataRowsInModelRunPyApi": "ModelRun.export",
    "createMEAPredictionImportByFilePyApi": "ModelRun.add_predictions",
    "getModelErrorAnalysisPredictionImportPyApi": "MEAPredictionImport.from_name",
}
EXPECTED = ["EXPORTING_DATA", "PREPARING_DATA", "TRAINING_MODEL", "COMPLETE"]


async def assert_completed_and_audited(system: System, sql: asyncpg.Connection,
                                       run: str) -> None:
    control = system.fake.control
    assert collapsed(control.statuses(run)) == EXPECTED
    metadata = control.metadata(run)
    # artifacts are local here: no link, and never a path on the trainer's host
    assert metadata["model_weights"].startswith(f"kept on the trainer's host under model run "
                                                f"{run}, attempt 1")
    assert not any("file:" in value or value.startswith("/") for value in metadata.values())
    assert float(metadata["accuracy"]) >= 0.8
    [imported] = control.imports(run)
    assert imported["state"] == "FINISHED"
    assert metadata["predictions_import_state"] == "FINISHED"
    # every call the fake saw for this run is in the audit log, with its correlation id
    audited = await sql.fetch("SELECT * FROM labelbox_calls WHERE model_run_id = $1", run)
    assert audited and all(a["outcome"] == "ok" for a in audited)
    operations = control.operations(run)
    for operation, sdk_method in AUDITED_AS.items():
        assert operations.count(operation) == sum(
            a["sdk_method"] == sdk_method for a in audited), (operation, sdk_method)
    correlation = await sql.fetchval(
        "SELECT metadata->>'correlation_id' FROM events WHERE stream_id = $1 "
        "AND event_type = 'TrainingRequested'", f"model_run-{run}")
    assert {a["correlation_id"] for a in audited} == {correlation}
    assert {a["sdk_method"] for a in audited} >= {"ModelRun.update_status", "ModelRun.export",
                                                 "ModelRun.add_predictions"}


async def test_a_text_and_an_image_classification_run_reach_complete(
    system: System, sql: asyncpg.Connection,
) -> None:
    control = system.fake.control
    control.add_model_run("text-run", data_rows=text_classification_rows("model-1", "text-run"))
    rng = random.Random(5)
    names = [f"{colour}-{n}" for n in range(20) for colour in COLOURS]
    files = {f"/{name}.png": png(COLOURS[name.split("-")[0]], rng) for name in names}
    with serving(files) as base:
        control.add_model_run("image-run", data_rows=image_rows("image-run", base, names))
        assert (await system.request("text-run", headers={
            "X-Request-Id": "req-text-1", "traceparent": TRACEPARENT})).status_code == 202
        assert (await system.request("image-run", "image_single_classification")
                ).status_code == 202
        await system.wait_terminal(["text-run", "image-run"])
    for run in ("text-run", "image-run"):
        await assert_completed_and_audited(system, sql, run)

    # the webhook's correlation id and trace travel through every event of the run
    events = await sql.fetch(
        "SELECT metadata->>'producer' AS producer, metadata->>'correlation_id' AS correlation, "
        "metadata->>'traceparent' AS traceparent FROM events "
        "WHERE stream_id = 'model_run-text-run' ORDER BY stream_version")
    assert {e["producer"] for e in events} == {"ingest", "trainer", "reporter"}
    assert {e["correlation"] for e in events} == {"req-text-1"}
    assert {e["traceparent"].split("-")[1] for e in events} == {TRACE_ID}
    audited = await sql.fetch("SELECT DISTINCT correlation_id FROM labelbox_calls "
                              "WHERE model_run_id = 'text-run'")
    assert [a["correlation_id"] for a in audited] == ["req-text-1"]


async def test_a_run_whose_pipeline_fails_reaches_failed_with_its_message(
    system: System,
) -> None:
    control = system.fake.control
    rows = text_classification_rows("model-1", "broken-run", count=12)
    for row in rows:  # the data rows' content cannot be fetched
        row["data_row"]["row_data"] = "http://127.0.0.1:9/unreachable.txt"
    control.add_model_run("broken-run", data_rows=rows)
    assert (await system.request("broken-run")).status_code == 202
    await system.wait_terminal(["broken-run"])
    history = control.model_run("broken-run")["statuses"]
    assert [s["status"] for s in history][-1] == "FAILED"
    assert "Could not load the data" in history[-1]["error_message"]
    assert control.imports("broken-run") == []
