"""The webhook as Labelbox calls it: every answer, every error path, nothing half-written."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from eventlog import NewEvent
from eventlog.memory import InMemoryEventStore
from eventlog.settings import SettingsError
from services.ingest.settings import IngestSettings
from tests.ingest.conftest import OLD_SECRET, SECRET, body_of, make_client, post_signed
from tests.signing import signed

RUN = "ckq7z0a1b0001"
REQUEST = body_of(modelType="text_single_classification", modelRunId=RUN, modelId="m-1",
                  organizationId="org-1")


async def test_get_models_lists_what_the_trainers_announced(client: httpx.AsyncClient) -> None:
    response = await client.get("/models", headers=signed(b"", SECRET))

    assert response.status_code == 200
    assert response.json() == {
        "bounding_box": {"description": "boxes"},
        "text_single_classification": {"description": "TF-IDF + logistic regression"},
    }


async def test_get_models_needs_a_signature_over_the_empty_body(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/models")).status_code == 401
    wrong = await client.get("/models", headers=signed(b"{}", SECRET))
    assert wrong.status_code == 401


async def test_a_signed_request_is_recorded_then_accepted(
    client: httpx.AsyncClient, memory_store: InMemoryEventStore
) -> None:
    response = await client.post(
        "/model_run", content=REQUEST, headers={**signed(REQUEST, SECRET), "X-Request-Id": "req-77"}
    )

    assert response.status_code == 202
    assert response.json()["status"] == "accepted" and response.json()["attempt"] == 1
    (event,) = await memory_store.read_stream(f"model_run-{RUN}")
    assert str(event.event_id) == response.json()["eventId"]
    assert event.event_type == "TrainingRequested"
    assert event.data["modelType"] == "text_single_classification"
    assert (event.data["modelId"], event.data["organizationId"]) == ("m-1", "org-1")
    assert event.data["attempt"] == 1
    assert event.data["remoteAddress"] == "203.0.113.7"
    assert event.data["secretIndex"] == 1  # never the secret itself
    assert SECRET not in json.dumps(event.data)
    assert event.data["bodySha256"] == hashlib.sha256(REQUEST).hexdigest()
    assert event.data["request"] == json.loads(REQUEST)
    assert event.data["receivedAt"]
    assert event.metadata["correlation_id"] == "req-77"
    assert event.metadata["producer"] == "ingest"


async def test_the_previous_secret_still_works_during_a_rotation(
    client: httpx.AsyncClient, memory_store: InMemoryEventStore
) -> None:
    response = await post_signed(client, REQUEST, OLD_SECRET)

    assert response.status_code == 202
    (event,) = await memory_store.read_stream(f"model_run-{RUN}")
    assert event.data["secretIndex"] == 0


async def test_a_repeat_for_a_run_in_progress_is_an_idempotent_200(
    client: httpx.AsyncClient, memory_store: InMemoryEventStore
) -> None:
    await post_signed(client, REQUEST)
    again = await post_signed(client, REQUEST)

    assert again.status_code == 200
    assert again.json() == {"modelRunId": RUN, "attempt": 1, "status": "in_progress"}
    assert len(await memory_store.read_stream(f"model_run-{RUN}")) == 1


async def test_a_repeat_for_a_completed_run_appends_nothing(
    client: httpx.AsyncClient, memory_store: InMemoryEventStore
) -> None:
    await post_signed(client, REQUEST)
    await memory_store.append(f"model_run-{RUN}", [NewEvent("TrainingCompleted", {})])

    again = await post_signed(client, REQUEST)

    assert (again.status_code, again.json()["status"]) == (200, "complete")
    assert len(await memory_store.read_stream(f"model_run-{RUN}")) == 2


async def test_a_request_after_a_failed_attempt_starts_a_new_attempt(
    client: httpx.AsyncClient, memory_store: InMemoryEventStore
) -> None:
    await post_signed(client, REQUEST)
    await memory_store.append(f"model_run-{RUN}", [NewEvent("TrainingFailed", {"stage": "x"})])

    retry = await post_signed(client, REQUEST)

    assert (retry.status_code, retry.json()["attempt"]) == (202, 2)
    events = await memory_store.read_stream(f"model_run-{RUN}")
    assert [e.event_type for e in events] == [
        "TrainingRequested", "TrainingFailed", "TrainingRequested"
    ]
    assert events[-1].data["attempt"] == 2


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Hub-Signature": "sha1=deadbeef"}, signed(b"something else", SECRET)],
    ids=["missing", "malformed", "wrong"],
)
async def test_an_unsigned_request_gets_the_same_401_and_records_nothing(
    client: httpx.AsyncClient, memory_store: InMemoryEventStore, headers: dict[str, str]
) -> None:
    response = await client.post("/model_run", content=REQUEST, headers=headers)

    assert response.status_code == 401
    assert response.json() == {
        "error": "unauthorized", "detail": "missing or invalid webhook signature"
    }
    assert await memory_store.read_all() == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (b"[" * 1000, "nesting is too deep"),
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, "nesting is too deep"),
    ],
    ids=["malformed", "not-utf8", "array", "string", "deep-array", "deep-object"],
)
async def test_a_body_that_is_not_a_json_object_is_a_400(
    memory_store: InMemoryEventStore, body: bytes, detail: str
) -> None:
    http, _ = make_client(memory_store, max_body_bytes=1024 * 1024)
    async with http:
        response = await post_signed(http, body)

    assert response.status_code == 400, response.text
    assert detail in response.json()["detail"]
    assert response.json()["error"] == "bad_request"
    assert await memory_store.read_all() == []


@pytest.mark.parametrize(
    ("fields", "field", "detail"),
    [
        ({"modelType": "bounding_box"}, "modelRunId", "modelRunId is required"),
        ({"modelRunId": RUN}, "modelType", "modelType is required"),
        ({"modelType": 3, "modelRunId": RUN}, "modelType", "must be a string"),
        ({"modelType": "bounding_box", "modelRunId": ""}, "modelRunId", "must not be empty"),
        ({"modelType": "bounding_box", "modelRunId": "a/b"}, "modelRunId", "letters, digits"),
        ({"modelType": "bounding_box", "modelRunId": RUN, "modelId": 5}, "modelId",
         "must be a string"),
        ({"modelType": "segmentation", "modelRunId": RUN}, "modelType",
         "unknown modelType 'segmentation'; this server trains: bounding_box, "
         "text_single_classification"),
    ],
)
async def test_an_invalid_field_is_a_422_that_names_it(
    client: httpx.AsyncClient, memory_store: InMemoryEventStore,
    fields: dict[str, object], field: str, detail: str,
) -> None:
    response = await post_signed(client, body_of(**fields))

    assert response.status_code == 422
    assert response.json()["field"] == field
    assert detail in response.json()["detail"]
    assert await memory_store.read_all() == []


async def test_a_body_over_the_limit_is_a_413_whether_declared_or_chunked(
    client: httpx.AsyncClient, memory_store: InMemoryEventStore
) -> None:
    big = body_of(modelType="bounding_box", modelRunId=RUN, padding="x" * 5000)

    declared = await post_signed(client, big)

    async def chunks():  # type: ignore[no-untyped-def]
        for start in range(0, len(big), 1000):
            yield big[start:start + 1000]

    chunked = await client.post("/model_run", content=chunks(), headers=signed(big, SECRET))

    assert declared.status_code == chunked.status_code == 413
    assert declared.json()["error"] == "payload_too_large"
    assert await memory_store.read_all() == []


async def test_unknown_routes_and_methods_get_json_404_and_405(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.get("/nowhere")
    wrong_method = await client.delete("/model_run")

    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    assert (wrong_method.status_code, wrong_method.json()["error"]) == (405, "method_not_allowed")


async def test_metrics_count_requests_signature_failures_and_appends(
    memory_store: InMemoryEventStore,
) -> None:
    http, metrics = make_client(memory_store)
    async with http:
        await post_signed(http, REQUEST)
        await http.post("/model_run", content=REQUEST)
        await http.get("/nowhere")
        on_the_webhook_port = await http.get("/metrics")
    text = metrics.render().decode()

    requests = 'trainbridge_ingest_requests_total{method="POST",route="/model_run",status="%s"} 1.0'
    assert requests % 202 in text
    assert requests % 401 in text
    assert 'route="unmatched",status="404"' in text
    assert "trainbridge_ingest_signature_failures_total 1.0" in text
    assert "trainbridge_ingest_events_appended_total 1.0" in text
    timed = 'trainbridge_ingest_request_duration_seconds_count{route="/model_run",status="%s"}'
    assert timed % 202 + " 1.0" in text
    assert on_the_webhook_port.status_code == 404  # served on a port of its own


async def test_the_registry_has_the_standard_collectors_and_no_backlog_until_read(
    memory_store: InMemoryEventStore,
) -> None:
    _, metrics = make_client(memory_store)

    text = metrics.render().decode()

    assert "process_resident_memory_bytes" in text
    assert "python_gc_collections_total" in text
    assert "python_info" in text
    assert "# TYPE trainbridge_outbox_backlog gauge" in text
    assert "\ntrainbridge_outbox_backlog " not in text  # unknown: no sample, not 0


async def test_health_readiness_and_the_openapi_schema(memory_store: InMemoryEventStore) -> None:
    async def database_down() -> str | None:
        return "database unreachable: connection refused"

    async def fine() -> str | None:
        return None

    http, _ = make_client(memory_store, readiness={"database": database_down, "broker": fine})
    async with http:
        health = await http.get("/healthz")
        ready = await http.get("/readyz")
        schema = (await http.get("/schema/openapi.json")).json()

    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert ready.status_code == 503
    assert ready.json()["checks"] == {
        "database": "database unreachable: connection refused", "broker": "ok"
    }
    body = schema["paths"]["/model_run"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["required"] == ["modelType", "modelRunId"]
    responses = schema["paths"]["/model_run"]["post"]["responses"]
    assert {"400", "401", "413", "422", "503"} <= set(responses)


def test_ingest_refuses_to_start_without_a_secret() -> None:
    with pytest.raises(SettingsError, match="TRAINBRIDGE_WEBHOOK_SECRET"):
        IngestSettings.from_env({})
    with pytest.raises(SettingsError):
        IngestSettings.from_env({"TRAINBRIDGE_WEBHOOK_SECRET": " , "})
    rotated = IngestSettings.from_env({"TRAINBRIDGE_WEBHOOK_SECRET": "new, old"})
    assert rotated.secrets == ("new", "old")
    assert "new" not in repr(rotated)


async def test_an_unreasonable_request_id_is_replaced_by_a_fresh_correlation_id(
    client: httpx.AsyncClient, memory_store: InMemoryEventStore
) -> None:
    headers = {**signed(REQUEST, SECRET), "X-Request-Id": "x" * 500}
    assert (await client.post("/model_run", content=REQUEST, headers=headers)).status_code == 202

    (event,) = await memory_store.read_stream(f"model_run-{RUN}")
    assert len(event.metadata["correlation_id"]) == 36


async def test_only_the_current_attempts_outcome_decides_the_runs_state(
    client: httpx.AsyncClient, memory_store: InMemoryEventStore
) -> None:
    stream = f"model_run-{RUN}"
    await post_signed(client, REQUEST)
    await memory_store.append(stream, [NewEvent("TrainingFailed", {"attempt": 1})])
    await post_signed(client, REQUEST)  # attempt 2 starts
    # A displaced trainer's late word about attempt 1 must not end attempt 2.
    await memory_store.append(stream, [NewEvent("TrainingCompleted", {"attempt": 1})])

    again = await post_signed(client, REQUEST)

    assert again.json() == {"modelRunId": RUN, "attempt": 2, "status": "in_progress"}
