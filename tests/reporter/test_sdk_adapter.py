"""The SDK client the reporter builds: what it changes about the SDK's defaults, and that
those changes leave what reaches Labelbox the same."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from services.reporter.sdk_adapter import SdkLabelbox, single_attempt_client
from tests.fake_labelbox import FakeLabelbox
from tests.reporter.conftest import Reporter, sample_rows
from tests.reporter.test_reporting import full_run

ENDPOINT = "https://api.labelbox.example/graphql"


def test_the_proxy_environment_is_read_once_for_the_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/company-ca.pem")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    session = single_attempt_client("key", ENDPOINT, 5.0)._request_client._connection
    assert session.proxies["https"] == "http://proxy.internal:3128"
    assert session.verify == "/etc/ssl/company-ca.pem"
    assert session.trust_env is False  # not looked up again on every request


def test_no_proxy_for_the_endpoint_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "api.labelbox.example")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    session = single_attempt_client("key", ENDPOINT, 5.0)._request_client._connection
    assert "https" not in session.proxies
    assert session.verify is True


async def test_the_api_keys_user_is_fetched_once_however_many_exports(
    reporter: Reporter,
) -> None:
    control = reporter.fake.control
    for run in ("run-a", "run-b"):
        control.add_model_run(run, data_rows=sample_rows(run, 6))
        await full_run(reporter, run)
        assert control.statuses(run)[-1] == "COMPLETE"
    assert len(control.requests("GetUserPyApi")) == 1
    # every export start and poll still looks its task up
    assert len(control.requests("GetUserCreatedTasksPyApi")) >= 4


async def test_every_request_names_its_sdk_method_without_the_sdks_stack_walk(
    reporter: Reporter,
) -> None:
    """The SDK would name the caller by walking ``inspect.stack()`` (reading every frame's
    source file); the adapter names it. A stack walk would name the export task's
    static ``get_task`` ``:get_task``."""
    control = reporter.fake.control
    control.add_model_run("run-1", data_rows=sample_rows("run-1", 12))
    await full_run(reporter, "run-1")
    assert control.statuses("run-1")[-1] == "COMPLETE"
    graphql = [r for r in control.requests() if r["path"] in ("/graphql", "/_gql")]
    assert {r["sdk_method"] for r in graphql} == {
        "ModelRun:update_status", "ModelRun:export", "ExportTask:get_task",
        "ExportTask:get_buffered_stream", "MEAPredictionImport:from_name",
        "ModelRun:add_predictions", "ModelRun:update_config",
    }


def test_concurrent_paginated_and_status_calls_each_carry_their_own_sdk_method(
    fake_labelbox: FakeLabelbox,
) -> None:
    """The SDK's pagination names its method on the client every thread shares; a status
    update sent meanwhile from another thread must still be named ``ModelRun:update_status``
    (it was named after the other thread's call on 13-24 % of them)."""
    control = fake_labelbox.control
    control.add_model_run("run-1", data_rows=sample_rows("run-1", 4))
    port = SdkLabelbox(single_attempt_client(fake_labelbox.api_key or "key",
                                             fake_labelbox.endpoint, 10.0, 16), 10.0)
    task_id = port.start_export("run-1", "names")

    def paginate() -> None:
        for _ in range(15):
            port.export_status(task_id)

    def update() -> None:
        for n in range(15):
            port.update_status("run-1", "EXPORTING_DATA", {"n": str(n)}, None)

    with ThreadPoolExecutor(8) as threads:
        for future in [threads.submit(paginate if n % 2 else update) for n in range(8)]:
            future.result()

    names = {(r["operation"], r["sdk_method"]) for r in control.requests()
             if r["path"] in ("/graphql", "/_gql")}
    assert len(control.requests("setPipelineStatusPyApi")) == 60
    assert len(control.requests("GetUserCreatedTasksPyApi")) >= 60
    assert names == {("exportDataRowsInModelRunPyApi", "ModelRun:export"),
                     ("GetUserPyApi", "ModelRun:export"),
                     ("GetUserCreatedTasksPyApi", "ModelRun:export"),
                     ("GetUserCreatedTasksPyApi", "ExportTask:get_task"),
                     ("setPipelineStatusPyApi", "ModelRun:update_status")}
