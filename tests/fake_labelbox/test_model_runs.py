"""Model runs, pipeline status and config, through the real SDK."""

from __future__ import annotations

import pytest
from lbox.exceptions import ResourceNotFoundError

from tests.fake_labelbox import FakeLabelbox, running_fake_labelbox


def test_get_model_run_returns_the_registered_model_run(fake_labelbox: FakeLabelbox) -> None:
    fake_labelbox.control.add_model_run("mr-1", model_id="model-7", name="first run")

    run = fake_labelbox.client().get_model_run("mr-1")

    assert (run.uid, run.model_id, run.name) == ("mr-1", "model-7", "first run")
    assert run.created_at.year >= 2024  # parsed from Labelbox's "...T...000Z" format
    assert fake_labelbox.control.operations() == ["GetModelRunPyApi"]


def test_an_unknown_model_run_is_not_found(fake_labelbox: FakeLabelbox) -> None:
    with pytest.raises(ResourceNotFoundError):
        fake_labelbox.client().get_model_run("nope")

    [logged] = fake_labelbox.control.requests()
    assert (logged["model_run_id"], logged["graphql_error"]) == ("nope", "RESOURCE_NOT_FOUND")


def test_auto_create_serves_unknown_model_runs_with_the_sample_rows() -> None:
    with running_fake_labelbox(auto_create=True) as fake:
        run = fake.client().get_model_run("made-up")

        assert run.model_id == "model-1"
        assert fake.control.model_run("made-up")["rows_count"] == 60


def test_status_updates_keep_their_history_and_merge_their_metadata(
    fake_labelbox: FakeLabelbox,
) -> None:
    fake_labelbox.control.add_model_run("mr-1")
    run = fake_labelbox.client().get_model_run("mr-1")

    run.update_status("EXPORTING_DATA", metadata={"stage": "export", "rows": "60"})
    run.update_status("TRAINING_MODEL", metadata={"stage": "train"})
    run.update_status("FAILED", error_message="out of memory")

    assert fake_labelbox.control.statuses("mr-1") == ["EXPORTING_DATA", "TRAINING_MODEL", "FAILED"]
    assert fake_labelbox.control.metadata("mr-1") == {"stage": "train", "rows": "60"}
    history = fake_labelbox.control.model_run("mr-1")["statuses"]
    assert history[0]["metadata"] == {"stage": "export", "rows": "60"}
    assert history[2]["error_message"] == "out of memory"
    assert history[2]["at"].endswith("Z")
    [first, *_] = fake_labelbox.control.requests("setPipelineStatusPyApi")
    assert first["path"] == "/_gql"  # experimental calls go to /_gql
    assert first["sdk_method"] == "ModelRun:update_status"


def test_a_status_update_for_an_unknown_model_run_is_not_found_but_the_sdk_raises_nothing(
    fake_labelbox: FakeLabelbox,
) -> None:
    fake_labelbox.control.add_model_run("mr-1")
    run = fake_labelbox.client().get_model_run("mr-1")
    fake_labelbox.control.reset()

    run.update_status("COMPLETE")  # RESOURCE_NOT_FOUND makes execute() return None

    [logged] = fake_labelbox.control.requests("setPipelineStatusPyApi")
    assert logged["graphql_error"] == "RESOURCE_NOT_FOUND"


def test_config_can_be_updated_read_and_reset(fake_labelbox: FakeLabelbox) -> None:
    fake_labelbox.control.add_model_run("mr-1")
    run = fake_labelbox.client().get_model_run("mr-1")

    assert run.update_config({"lr": 0.1}) == {"trainingMetadata": {"lr": 0.1}}
    run.update_config({"epochs": 3})
    assert run.get_config() == {"lr": 0.1, "epochs": 3}
    assert run.reset_config() == {"trainingMetadata": None}
    assert run.get_config() is None
