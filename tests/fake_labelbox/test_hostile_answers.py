"""The fake serves hostile data where Labelbox data enters a client: error messages, export
rows and import statuses holding NUL, lone surrogates or anything else, and ``Retry-After``."""

from __future__ import annotations

import httpx
import pytest
from lbox.exceptions import ApiLimitError, ResourceConflict

from tests.fake_labelbox import FakeLabelbox, without_sdk_retries
from tests.fake_labelbox.test_faults import GET_MODEL_RUN

HOSTILE = "nul\x00 high\ud800 low\udfff end"


@pytest.fixture
def with_run(fake_labelbox: FakeLabelbox) -> FakeLabelbox:
    fake_labelbox.control.add_model_run("mr-1", data_rows=[])
    return fake_labelbox


def test_a_faults_message_reaches_the_sdks_exception_as_it_was_given(
    with_run: FakeLabelbox,
) -> None:
    with_run.control.add_fault("GetModelRunPyApi", graphql_error="RESOURCE_CONFLICT",
                               message=HOSTILE)

    with pytest.raises(ResourceConflict) as raised:
        without_sdk_retries(with_run.client()).get_model_run("mr-1")
    assert HOSTILE in str(raised.value)
    assert with_run.control.faults()[0]["message"] == HOSTILE


@pytest.mark.parametrize("retry_after", [2, "Wed, 21 Oct 2037 07:28:00 GMT"])
def test_a_fault_can_carry_retry_after_and_a_429_is_still_an_api_limit_error(
    with_run: FakeLabelbox, retry_after: int | str,
) -> None:
    with_run.control.add_fault("GetModelRunPyApi", status=429, retry_after=retry_after,
                               message="slow down")
    response = httpx.post(with_run.endpoint, json={"query": GET_MODEL_RUN,
                                                   "variables": {"param_0": "mr-1"}},
                          headers={"Authorization": f"Bearer {with_run.api_key}"})
    assert (response.status_code, response.headers["retry-after"]) == (429, str(retry_after))

    with_run.control.add_fault("GetModelRunPyApi", status=429, retry_after=retry_after)
    with pytest.raises(ApiLimitError):
        with_run.client().get_model_run("mr-1")


def test_export_rows_and_import_statuses_can_hold_any_text(with_run: FakeLabelbox) -> None:
    control = with_run.control
    control.add_model_run("mr-2", data_rows=[{"data_row": {"id": HOSTILE}, "x": {HOSTILE: 1}}])
    control.set_import_behaviour("mr-2", row_status=HOSTILE, row_error={"deep": [HOSTILE]})

    assert control.model_run("mr-2")["rows_count"] == 1
    assert control.behaviour()["imports"]["mr-2"]["row_status"] == HOSTILE
