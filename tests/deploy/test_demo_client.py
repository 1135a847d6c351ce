"""The demo's client (``docker compose --profile demo up`` runs it) signs its
``POST /model_run`` exactly as Labelbox does, retries until the trainer has announced the
model type, and follows the run at the fake Labelbox until it is COMPLETE or FAILED."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from fake_labelbox import demo_client
from fake_labelbox.demo_client import (
    NotAcceptedError,
    NotTerminalError,
    send_signed_run,
    send_until_accepted,
    wait_for_terminal,
)
from services.ingest.model_run import validate
from services.ingest.signature import verify
from tests.signing import hmac_hex

SECRET = "demo-webhook-secret"
INGEST = "http://ingest.test:8000"
FAKE = "http://fake.test:8081"

Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def answers(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A handler giving ``responses`` in turn (the last one again and again)."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = responses[min(len(seen), len(responses)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handle, seen


def accepted(run: str = "demo-run") -> httpx.Response:
    return httpx.Response(202, json={"modelRunId": run, "attempt": 1, "status": "accepted"})


def unknown_model_type() -> httpx.Response:
    return httpx.Response(422, json={"error": "unprocessable", "field": "modelType",
                                     "detail": "unknown modelType"})


def model_run(*statuses: str) -> httpx.Response:
    return httpx.Response(200, json={"id": "demo-run", "statuses": [
        {"status": s, "metadata": {}, "error_message": None, "at": f"t{i}"}
        for i, s in enumerate(statuses)]})


# -- signing ---------------------------------------------------------------------------------


def test_the_request_is_signed_over_its_raw_body_as_ingest_verifies_it() -> None:
    handler, seen = answers(accepted())
    response = send_signed_run(INGEST, SECRET, "demo-run", "text_single_classification",
                               "model-1", client=client(handler))
    assert response.status_code == 202
    (request,) = seen
    assert request.method == "POST" and str(request.url) == f"{INGEST}/model_run"
    body = request.content
    assert request.headers["x-hub-signature"] == "sha1=" + hmac_hex(SECRET, body)
    match = verify(body, {k.lower(): v for k, v in request.headers.items()}, ["old", SECRET])
    assert match is not None and match.secret_index == 1
    assert verify(body, dict(request.headers), ["another secret"]) is None


def test_the_body_is_a_model_run_request_ingest_accepts() -> None:
    handler, seen = answers(accepted())
    send_signed_run(f"{INGEST}/", SECRET, "demo-run", "text_single_classification", "model-1",
                    client=client(handler))
    payload = json.loads(seen[0].content)
    assert payload == {"modelRunId": "demo-run", "modelType": "text_single_classification",
                       "modelId": "model-1"}
    assert seen[0].headers["content-type"] == "application/json"
    parsed = validate(payload, {"text_single_classification"})
    assert (parsed.model_run_id, parsed.model_type) == ("demo-run", "text_single_classification")


# -- retrying until ingest accepts -----------------------------------------------------------


def test_a_422_before_the_trainer_announces_its_model_types_is_retried_until_202() -> None:
    handler, seen = answers(unknown_model_type(), unknown_model_type(), accepted())
    logged: list[str] = []
    response = send_until_accepted(INGEST, SECRET, "demo-run", "text_single_classification",
                                   "model-1", timeout=5, interval=0.001,
                                   client=client(handler), log=logged.append)
    assert response.status_code == 202
    assert len(seen) == 3 and len(logged) == 2 and "modelType" in logged[0]
    assert len({r.content for r in seen}) == 1  # the same signed request every time


def test_a_503_and_an_unreachable_ingest_are_retried_too() -> None:
    handler, seen = answers(httpx.ConnectError("refused"),
                            httpx.Response(503, json={"error": "unavailable"}),
                            httpx.Response(200, json={"status": "in_progress"}))
    response = send_until_accepted(INGEST, SECRET, "demo-run", "text_single_classification",
                                   "model-1", timeout=5, interval=0.001,
                                   client=client(handler), log=lambda _: None)
    assert response.status_code == 200 and len(seen) == 3


def test_a_wrong_secret_fails_at_once() -> None:
    handler, seen = answers(httpx.Response(401, json={"error": "unauthorized"}))
    with pytest.raises(NotAcceptedError, match="401"):
        send_until_accepted(INGEST, "wrong", "demo-run", "text_single_classification",
                            "model-1", timeout=5, interval=0.001, client=client(handler))
    assert len(seen) == 1


def test_retrying_gives_up_after_the_timeout_with_the_last_answer() -> None:
    handler, _ = answers(unknown_model_type())
    with pytest.raises(NotAcceptedError, match="unknown modelType") as raised:
        send_until_accepted(INGEST, SECRET, "demo-run", "image_single_classification",
                            "model-1", timeout=0.05, interval=0.01, client=client(handler),
                            log=lambda _: None)
    assert raised.value.response is not None and raised.value.response.status_code == 422


# -- waiting for COMPLETE or FAILED ----------------------------------------------------------


def test_waiting_follows_the_run_until_it_is_complete() -> None:
    handler, seen = answers(
        httpx.Response(404, json={"detail": "unknown model run"}),  # the reporter has not called
        httpx.ConnectError("the fake is restarting"),
        model_run("EXPORTING_DATA"),
        model_run("EXPORTING_DATA", "PREPARING_DATA", "TRAINING_MODEL"),
        model_run("EXPORTING_DATA", "PREPARING_DATA", "TRAINING_MODEL", "COMPLETE"),
    )
    reported: list[str] = []
    statuses = wait_for_terminal(FAKE, "demo-run", 5, interval=0.001, client=client(handler),
                                 on_status=lambda update: reported.append(update["status"]))
    assert statuses == ["EXPORTING_DATA", "PREPARING_DATA", "TRAINING_MODEL", "COMPLETE"]
    assert reported == statuses  # each status once, in order
    assert str(seen[0].url) == f"{FAKE}/_fake/model-runs/demo-run"


def test_waiting_stops_at_failed() -> None:
    handler, _ = answers(model_run("EXPORTING_DATA", "FAILED"))
    assert wait_for_terminal(FAKE, "demo-run", 5, interval=0.001,
                             client=client(handler)) == ["EXPORTING_DATA", "FAILED"]


def test_waiting_times_out_with_the_statuses_so_far() -> None:
    handler, _ = answers(model_run("EXPORTING_DATA", "TRAINING_MODEL"))
    with pytest.raises(NotTerminalError) as raised:
        wait_for_terminal(FAKE, "demo-run", 0.05, interval=0.01, client=client(handler))
    assert raised.value.statuses == ["EXPORTING_DATA", "TRAINING_MODEL"]
    assert isinstance(raised.value, TimeoutError)


# -- the whole client, against a local stand-in for ingest and the fake ------------------------


@contextmanager
def stand_in(secret: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """One local HTTP server playing ingest (verifying the signature with ingest's own code;
    422 until its second request) and the fake Labelbox (one more status per poll)."""
    state: dict[str, Any] = {"posts": 0, "polls": 0, "run": None}
    history = ["EXPORTING_DATA", "PREPARING_DATA", "TRAINING_MODEL", "COMPLETE"]

    class StandIn(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def reply(self, status: int, body: object) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers = {k.lower(): v for k, v in self.headers.items()}
            if self.path != "/model_run" or verify(body, headers, [secret]) is None:
                self.reply(401, {"error": "unauthorized"})
                return
            state["posts"] += 1
            state["run"] = json.loads(body)["modelRunId"]
            if state["posts"] == 1:
                self.reply(422, {"error": "unprocessable", "field": "modelType"})
            else:
                self.reply(202, {"modelRunId": state["run"], "status": "accepted"})

        def do_GET(self) -> None:
            if self.path != f"/_fake/model-runs/{state['run']}":
                self.reply(404, {"detail": "unknown"})
                return
            state["polls"] += 1
            shown = history[: state["polls"]]
            self.reply(200, {"statuses": [{"status": s, "at": "now"} for s in shown]})

    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


def test_main_sends_the_run_and_prints_its_status_history(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAINBRIDGE_WEBHOOK_SECRET", f"{SECRET},an-older-secret")
    with stand_in(SECRET) as (url, state):
        code = demo_client.main(["--ingest", url, "--fake", url, "--model-run", "demo-run",
                                 "--interval", "0.01", "--timeout", "5"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert state["posts"] == 2 and state["run"] == "demo-run"
    assert "EXPORTING_DATA -> PREPARING_DATA -> TRAINING_MODEL -> COMPLETE" in out


def test_main_makes_a_new_valid_model_run_id_unless_given_one() -> None:
    with stand_in("s3cret") as (url, state):
        code = demo_client.main(["--ingest", url, "--fake", url, "--secret", "s3cret",
                                 "--interval", "0.01", "--timeout", "5"])
    assert code == 0 and str(state["run"]).startswith("demo-")
    validate({"modelRunId": state["run"], "modelType": "t"}, {"t"})  # ingest takes it


def test_main_without_a_secret_says_how_to_give_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRAINBRIDGE_WEBHOOK_SECRET", raising=False)
    assert demo_client.main(["--ingest", INGEST]) == 2
    assert "TRAINBRIDGE_WEBHOOK_SECRET" in capsys.readouterr().err
