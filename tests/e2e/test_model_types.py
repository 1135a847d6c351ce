"""End to end, every model type Labelbox's reference offers: a signed webhook in the body
form Labelbox's documentation shows, the fake's realistic export of that type, training on
the CPU, and predictions in the SDK's NDJSON form uploaded through the real SDK, scored at or
above each type's bar, with the hyper-parameters in the run's config."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from fake_labelbox.samples.catalog import MODEL_TYPES
from services.trainer.export_rows import read_rows
from tests.e2e.conftest import SECRET, System
from tests.reporter.test_reporting import collapsed
from tests.signing import signed

EXPECTED = ["EXPORTING_DATA", "PREPARING_DATA", "TRAINING_MODEL", "COMPLETE"]
BARS = {  # the headline score Labelbox shows as metadata, and its bar
    "text_single_classification": ("accuracy", 0.8),
    "image_single_classification": ("accuracy", 0.8),
    "text_multi_classification": ("micro_f1", 0.85),
    "image_multi_classification": ("micro_f1", 0.85),
    "bounding_box": ("map50", 0.7),
    "ner": ("micro_f1", 0.8),
}


def is_confidence(value: Any) -> bool:
    return isinstance(value, float | int) and 0 <= value <= 1


def shape_of(line: dict[str, Any]) -> str:
    """Which of the SDK converter's line forms ``line`` is (``?``: none of them)."""
    keys = set(line) - {"uuid"}
    if keys == {"dataRow", "metricValue", "metricName", "aggregation"}:
        return "metric"
    if keys == {"dataRow", "name", "answer"} and isinstance(line["answer"], dict):
        ok = set(line["answer"]) == {"name", "confidence"}
        return "radio" if ok and is_confidence(line["answer"]["confidence"]) else "?"
    if keys == {"dataRow", "name", "answer"} and isinstance(line["answer"], list):
        ok = line["answer"] and all(set(a) == {"name", "confidence"} and is_confidence(
            a["confidence"]) for a in line["answer"])
        return "checklist" if ok else "?"
    if keys == {"dataRow", "name", "classifications", "confidence", "bbox"}:
        ok = set(line["bbox"]) == {"top", "left", "height", "width"} and is_confidence(
            line["confidence"]) and line["bbox"]["width"] > 0 and line["bbox"]["height"] > 0
        return "bounding_box" if ok else "?"
    if keys == {"dataRow", "name", "classifications", "confidence", "location"}:
        location = line["location"]
        ok = set(location) == {"start", "end"} and 0 <= location["start"] <= location["end"]
        return "text_entity" if ok and is_confidence(line["confidence"]) else "?"
    return "?"


async def test_every_model_type_trains_from_a_signed_webhook_to_complete(
    system: System, sql: asyncpg.Connection,
) -> None:
    control = system.fake.control
    models = (await system.http.get(f"{system.ingest_url}/models",
                                    headers=signed(b"", SECRET))).json()
    assert set(models) == set(MODEL_TYPES)

    for model_type in MODEL_TYPES:
        control.add_model_run(f"run-{model_type}", sample=model_type)
        # the sample request of Labelbox's documentation, with organizationId
        body = json.dumps({"modelType": model_type, "modelRunId": f"run-{model_type}",
                           "modelId": "model-1", "organizationId": "org-1"}).encode()
        answer = await system.http.post(f"{system.ingest_url}/model_run", content=body,
                                        headers={**signed(body, SECRET),
                                                 "Content-Type": "application/json"})
        assert answer.status_code == 202, (model_type, answer.text)
    await system.wait_terminal([f"run-{t}" for t in MODEL_TYPES], timeout=400)

    for model_type in MODEL_TYPES:
        run = f"run-{model_type}"
        history = control.model_run(run)
        failure = history["statuses"][-1]["error_message"]
        assert collapsed(control.statuses(run)) == EXPECTED, (model_type, failure)
        metadata = control.metadata(run)
        headline, bar = BARS[model_type]
        assert float(metadata[headline]) >= bar, (model_type, metadata)
        assert history["config"]["model_type"] == model_type
        assert "model_weights" in metadata and "model_weights" not in history["config"]

        [imported] = control.imports(run)
        assert imported["state"] == "FINISHED", model_type
        lines = imported["lines"]
        refs = read_rows(system.fake.state.model_run(run).rows, "model-1", run)
        learns = {a.kind for r in refs for a in r.annotations}
        shapes = {shape_of(line) for line in lines}
        assert "?" not in shapes and shapes - {"metric"} <= learns, (model_type, shapes)
        features = {a.feature for r in refs for a in r.annotations}
        assert {line["name"] for line in lines if "name" in line} <= features, model_type
        predicted = {line["dataRow"]["id"] for line in lines}
        assert predicted == {r.data_row_id for r in refs}, model_type  # every data row

    audited = await sql.fetch("SELECT DISTINCT sdk_method FROM labelbox_calls")
    assert "ModelRun.update_config" in {a["sdk_method"] for a in audited}
