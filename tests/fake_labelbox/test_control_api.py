"""The ``/_fake`` control API itself."""

from __future__ import annotations

import httpx
import pytest

from tests.fake_labelbox import FakeLabelbox


def test_a_model_run_is_registered_with_the_given_rows(fake_labelbox: FakeLabelbox) -> None:
    rows = [{"data_row": {"id": "dr-1", "row_data": "hi"}}]

    created = fake_labelbox.control.add_model_run("mr-1", model_id="m", data_rows=rows)

    assert created["rows_count"] == 1
    assert fake_labelbox.state.model_run("mr-1").rows == rows
    assert [r["id"] for r in fake_labelbox.control.model_runs()] == ["mr-1"]


def test_an_unknown_model_run_is_a_404(fake_labelbox: FakeLabelbox) -> None:
    with pytest.raises(httpx.HTTPStatusError) as raised:
        fake_labelbox.control.model_run("nope")
    assert raised.value.response.status_code == 404


def test_faults_are_listed_and_cleared(fake_labelbox: FakeLabelbox) -> None:
    fault_id = fake_labelbox.control.add_fault("GetUserPyApi", status=503, times=2)

    [listed] = fake_labelbox.control.faults()
    assert (listed["id"], listed["operation"], listed["times"]) == (fault_id, "GetUserPyApi", 2)
    fake_labelbox.control.clear_faults()
    assert fake_labelbox.control.faults() == []


@pytest.mark.parametrize("rule", [
    {"status": 200},
    {"graphql_error": "NOT_A_CODE"},
    {"status": 500, "graphql_error": "RESOURCE_NOT_FOUND"},
    {"probability": 1.5},
    {"times": 0},
    {"colour": "red"},
])
def test_a_nonsensical_fault_is_refused(
    fake_labelbox: FakeLabelbox, rule: dict[str, object]
) -> None:
    response = httpx.post(f"{fake_labelbox.base_url}/_fake/faults", json=rule)
    assert response.status_code == 400


def test_behaviour_is_set_per_model_run_over_the_default(fake_labelbox: FakeLabelbox) -> None:
    fake_labelbox.control.set_import_behaviour(polls_until_done=2)
    fake_labelbox.control.set_import_behaviour("mr-1", outcome="FAILED", failing_data_rows=["x"])
    fake_labelbox.control.set_export_behaviour("mr-1", fail=True)

    behaviour = fake_labelbox.control.behaviour()

    assert behaviour["imports"]["*"]["polls_until_done"] == 2
    assert behaviour["imports"]["mr-1"] == {
        "polls_until_done": 1, "outcome": "FAILED", "failing_data_rows": ["x"]}
    assert behaviour["exports"]["mr-1"]["fail"] is True
    with pytest.raises(httpx.HTTPStatusError):
        fake_labelbox.control.set_import_behaviour(outcome="MAYBE")  # type: ignore[arg-type]


def test_the_request_log_is_filtered_and_reset_forgets_everything(
    fake_labelbox: FakeLabelbox,
) -> None:
    fake_labelbox.control.add_model_run("mr-1", data_rows=[])
    fake_labelbox.control.add_model_run("mr-2", data_rows=[])
    client = fake_labelbox.client()
    client.get_model_run("mr-1")
    client.get_model_run("mr-2")
    client.get_user()

    assert [r["model_run_id"] for r in fake_labelbox.control.requests("GetModelRunPyApi")] == [
        "mr-1", "mr-2"]
    [only] = fake_labelbox.control.requests(model_run_id="mr-2")
    assert only["variables"] == {"param_0": "mr-2"}
    assert fake_labelbox.control.operations() == [
        "GetModelRunPyApi", "GetModelRunPyApi", "GetUserPyApi"]

    fake_labelbox.control.reset()

    assert fake_labelbox.control.model_runs() == []
    assert fake_labelbox.control.requests() == []
