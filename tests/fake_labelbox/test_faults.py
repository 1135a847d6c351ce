"""Fault injection, seen through the real SDK's exceptions."""

from __future__ import annotations

import time

import pytest
from lbox.exceptions import (
    ApiLimitError,
    AuthenticationError,
    AuthorizationError,
    InternalServerError,
    InvalidQueryError,
    ResourceNotFoundError,
    TimeoutError,
)

from tests.fake_labelbox import FakeLabelbox, running_fake_labelbox, without_sdk_retries

GET_MODEL_RUN = (
    "query GetModelRunPyApi($param_0: ID!){modelRun(where: {id: $param_0})"
    "{createdAt createdBy modelAppId modelId name trainingMetadata id updatedAt}}"
)


@pytest.fixture
def with_run(fake_labelbox: FakeLabelbox) -> FakeLabelbox:
    fake_labelbox.control.add_model_run("mr-1", data_rows=[])
    return fake_labelbox


def test_a_single_503_is_absorbed_by_the_sdks_own_retry(with_run: FakeLabelbox) -> None:
    with_run.control.add_fault("GetModelRunPyApi", status=503, times=1)

    assert with_run.client().get_model_run("mr-1").uid == "mr-1"

    answers = [r["status"] for r in with_run.control.requests("GetModelRunPyApi")]
    assert answers == [503, 200]
    assert with_run.control.faults() == []  # expired after its one use


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_5xx_raises_internal_server_error_without_retries(
    with_run: FakeLabelbox, status: int
) -> None:
    with_run.control.add_fault(status=status)

    with pytest.raises(InternalServerError):
        without_sdk_retries(with_run.client()).get_model_run("mr-1")


def test_429_raises_api_limit_error(with_run: FakeLabelbox) -> None:
    with_run.control.add_fault("GetModelRunPyApi", status=429)

    with pytest.raises(ApiLimitError):
        with_run.client().get_model_run("mr-1")


@pytest.mark.parametrize(("code", "error"), [
    ("AUTHENTICATION_ERROR", AuthenticationError),
    ("AUTHORIZATION_ERROR", AuthorizationError),
    ("RESOURCE_NOT_FOUND", ResourceNotFoundError),
])
def test_graphql_error_faults_raise_the_sdks_exceptions(
    with_run: FakeLabelbox, code: str, error: type[Exception]
) -> None:
    with_run.control.add_fault("GetModelRunPyApi", graphql_error=code)

    with pytest.raises(error):
        with_run.client().get_model_run("mr-1")


def test_a_wrong_api_key_raises_authentication_error(with_run: FakeLabelbox) -> None:
    import labelbox

    client = labelbox.Client(api_key="wrong", endpoint=with_run.endpoint)

    with pytest.raises(AuthenticationError):
        client.get_model_run("mr-1")
    assert with_run.control.requests()[0]["graphql_error"] == "AUTHENTICATION_ERROR"


def test_any_api_key_is_accepted_without_one_configured() -> None:
    with running_fake_labelbox(api_key=None) as fake:
        fake.control.add_model_run("mr-1", data_rows=[])
        import labelbox

        client = labelbox.Client(api_key="whatever", endpoint=fake.endpoint)
        assert client.get_model_run("mr-1").uid == "mr-1"


def test_an_unknown_operation_raises_an_sdk_error_not_a_crash(with_run: FakeLabelbox) -> None:
    with pytest.raises(InvalidQueryError, match="does not implement"):
        with_run.client().execute("query SomethingElsePyApi { somethingElse { id } }")


def test_latency_delays_the_answer(with_run: FakeLabelbox) -> None:
    with_run.control.add_fault("GetModelRunPyApi", latency=0.5)
    client = with_run.client()

    started = time.monotonic()
    client.get_model_run("mr-1")

    assert time.monotonic() - started >= 0.5


def test_a_hang_outlasts_a_short_client_timeout(with_run: FakeLabelbox) -> None:
    with_run.control.add_fault("GetModelRunPyApi", hang=True)
    client = without_sdk_retries(with_run.client())

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        client.execute(GET_MODEL_RUN, {"param_0": "mr-1"}, timeout=0.3)

    assert time.monotonic() - started < 5


def test_faults_can_be_limited_to_one_model_run(fake_labelbox: FakeLabelbox) -> None:
    for model_run_id in ("mr-1", "mr-2"):
        fake_labelbox.control.add_model_run(model_run_id, data_rows=[])
    fake_labelbox.control.add_fault(model_run_id="mr-2", status=500)
    client = without_sdk_retries(fake_labelbox.client())

    client.get_model_run("mr-1")
    with pytest.raises(InternalServerError):
        client.get_model_run("mr-2")


def test_probabilistic_faults_repeat_exactly_for_the_same_seed(with_run: FakeLabelbox) -> None:
    client = without_sdk_retries(with_run.client())

    def failures() -> list[bool]:
        pattern = []
        for _ in range(12):
            try:
                client.get_model_run("mr-1")
                pattern.append(False)
            except InternalServerError:
                pattern.append(True)
        return pattern

    def run_with_seed(seed: int) -> list[bool]:
        with_run.control.reset(seed=seed)
        with_run.control.add_model_run("mr-1", data_rows=[])
        with_run.control.add_fault("GetModelRunPyApi", status=500, probability=0.5)
        return failures()

    first = run_with_seed(7)

    assert run_with_seed(7) == first
    assert 0 < sum(first) < 12
    assert run_with_seed(8) != first


def test_a_fault_on_a_download_fails_the_sdks_stream(with_run: FakeLabelbox) -> None:
    import requests

    with_run.control.add_model_run("mr-2")
    with_run.control.add_fault("DownloadExportFile", status=503)
    task = with_run.client().get_model_run("mr-2").export()

    with pytest.raises(requests.HTTPError):
        list(task.get_buffered_stream())


def test_a_reset_ends_a_hanging_request_without_a_trace(with_run: FakeLabelbox) -> None:
    with_run.control.add_fault("GetModelRunPyApi", hang=True)
    client = without_sdk_retries(with_run.client())
    with pytest.raises(TimeoutError):
        client.execute(GET_MODEL_RUN, {"param_0": "mr-1"}, timeout=0.2)

    with_run.control.reset()
    time.sleep(0.2)  # the hanging handler notices the reset within 50 ms

    assert with_run.control.requests() == []
