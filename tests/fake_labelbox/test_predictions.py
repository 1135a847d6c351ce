"""Prediction imports (``ModelRun.add_predictions``) through the real SDK."""

from __future__ import annotations

from typing import Any

import pytest
from labelbox import MEAPredictionImport
from labelbox.schema.enums import AnnotationImportState
from lbox.exceptions import ResourceConflict, ResourceNotFoundError

from tests.fake_labelbox import FakeLabelbox, without_sdk_retries


def predictions(*data_row_ids: str) -> list[dict[str, Any]]:
    return [
        {"uuid": f"u-{i}", "dataRow": {"id": row}, "name": "sentiment",
         "answer": {"name": "positive", "confidence": 0.9}}
        for i, row in enumerate(data_row_ids)
    ] + [{"uuid": "m-1", "dataRow": {"id": data_row_ids[0]}, "metricValue": 0.75,
          "metricName": "accuracy", "aggregation": "ARITHMETIC_MEAN"}]


def test_an_import_finishes_and_its_lines_become_predictions(fake_labelbox: FakeLabelbox) -> None:
    fake_labelbox.control.add_model_run("mr-1")
    client = fake_labelbox.client()

    created = client.get_model_run("mr-1").add_predictions("preds", predictions("a", "b"))
    assert created.state == AnnotationImportState.RUNNING
    found = MEAPredictionImport.from_name(client, "mr-1", "preds")
    found.wait_till_done(sleep_time_seconds=0)

    assert found.state == AnnotationImportState.FINISHED
    assert found.errors == []
    assert [s["status"] for s in found.statuses] == ["SUCCESS"] * 3
    assert found.inputs == predictions("a", "b")
    [recorded] = fake_labelbox.control.imports("mr-1")
    assert (recorded["name"], recorded["state"]) == ("preds", "FINISHED")
    assert (recorded["lines_count"], recorded["created_count"]) == (3, 3)
    assert recorded["lines"] == predictions("a", "b")


def test_listed_data_rows_get_failure_rows_while_the_import_finishes(
    fake_labelbox: FakeLabelbox,
) -> None:
    fake_labelbox.control.add_model_run("mr-1")
    fake_labelbox.control.set_import_behaviour("mr-1", failing_data_rows=["b"])
    client = fake_labelbox.client()

    created = client.get_model_run("mr-1").add_predictions("preds", predictions("a", "b"))
    created.wait_till_done(sleep_time_seconds=0)

    assert created.state == AnnotationImportState.FINISHED
    [error] = created.errors
    assert error["uuid"] == "u-1" and error["dataRow"] == {"id": "b"}
    assert error["status"] == "FAILURE"
    assert error["errors"][0].keys() == {"name", "message"}
    assert fake_labelbox.control.imports("mr-1")[0]["created_count"] == 2


def test_an_import_stays_running_until_its_nth_poll(fake_labelbox: FakeLabelbox) -> None:
    fake_labelbox.control.add_model_run("mr-1")
    fake_labelbox.control.set_import_behaviour(polls_until_done=3)
    client = fake_labelbox.client()

    created = client.get_model_run("mr-1").add_predictions("preds", predictions("a"))
    created.wait_till_done(sleep_time_seconds=0)

    assert created.state == AnnotationImportState.FINISHED
    polls = fake_labelbox.control.requests("getModelErrorAnalysisPredictionImportPyApi")
    assert len(polls) == 3


def test_a_failed_import_ends_the_wait_as_failed(fake_labelbox: FakeLabelbox) -> None:
    fake_labelbox.control.add_model_run("mr-1")
    fake_labelbox.control.set_import_behaviour("mr-1", outcome="FAILED")

    created = fake_labelbox.client().get_model_run("mr-1").add_predictions(
        "preds", predictions("a"))
    created.wait_till_done(sleep_time_seconds=0)

    assert created.state == AnnotationImportState.FAILED
    with pytest.raises(ValueError, match="Import failed"):
        created.errors  # noqa: B018 - the SDK refuses to read a failed import's files
    assert fake_labelbox.control.imports("mr-1")[0]["created_count"] == 0


def test_an_import_created_before_a_503_answer_is_found_again_by_name(
    fake_labelbox: FakeLabelbox,
) -> None:
    fake_labelbox.control.add_model_run("mr-1")
    fake_labelbox.control.add_fault("createMEAPredictionImportByFilePyApi", status=503,
                                    after_effect=True, times=1)
    client = without_sdk_retries(fake_labelbox.client())
    run = client.get_model_run("mr-1")

    with pytest.raises(Exception, match="503"):
        run.add_predictions("preds", predictions("a"))
    found = MEAPredictionImport.from_name(client, "mr-1", "preds")

    assert found.state == AnnotationImportState.FINISHED
    assert len(fake_labelbox.control.imports("mr-1")) == 1


def test_the_sdks_own_retry_of_a_503_create_meets_the_existing_import(
    fake_labelbox: FakeLabelbox,
) -> None:
    fake_labelbox.control.add_model_run("mr-1")
    fake_labelbox.control.add_fault("createMEAPredictionImportByFilePyApi", status=503,
                                    after_effect=True, times=1)
    run = fake_labelbox.client().get_model_run("mr-1")

    with pytest.raises(ResourceConflict):
        run.add_predictions("preds", predictions("a"))

    assert len(fake_labelbox.control.imports("mr-1")) == 1
    answers = [r["status"] for r in
               fake_labelbox.control.requests("createMEAPredictionImportByFilePyApi")]
    assert answers == [503, 200]


def test_a_create_that_fails_before_its_effect_creates_nothing(
    fake_labelbox: FakeLabelbox,
) -> None:
    fake_labelbox.control.add_model_run("mr-1")
    fake_labelbox.control.add_fault("createMEAPredictionImportByFilePyApi", status=500)
    client = without_sdk_retries(fake_labelbox.client())

    with pytest.raises(Exception, match="500"):
        client.get_model_run("mr-1").add_predictions("preds", predictions("a"))

    assert fake_labelbox.control.imports("mr-1") == []
    with pytest.raises(ResourceNotFoundError):
        MEAPredictionImport.from_name(client, "mr-1", "preds")
