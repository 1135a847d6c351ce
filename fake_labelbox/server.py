"""The fake Labelbox HTTP app: ``POST /graphql`` and ``POST /_gql`` (experimental calls),
the unauthenticated file downloads it hands out URLs for, and the ``/_fake`` control API.

Each request is matched to a fault rule before it changes anything; a rule with
``after_effect`` lets the operation happen and then answers with the fault. Every request is
recorded with the HTTP status it got."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import State

from fake_labelbox.control_api import CONTROL_ROUTES
from fake_labelbox.faults import FaultRule
from fake_labelbox.graphql import (
    RATE_LIMIT_MESSAGE,
    BadGraphQLRequest,
    GraphQLFailure,
    GraphQLRequest,
    error_body,
    read_request,
)
from fake_labelbox.operations import OPERATIONS, Call
from fake_labelbox.state import FakeLabelboxState, RequestRecord, timestamp

logger = logging.getLogger(__name__)

HANG_SECONDS = 3600.0
"""How long a hanging request waits (unless the state is reset or closed first)."""
NDJSON = "application/x-ndjson"


@dataclass(frozen=True)
class FakeServer:
    state: FakeLabelboxState
    api_key: str | None
    auto_create_model_runs: bool


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    graphql_error: str | None = None
    media_type: str = "application/json"

    headers: tuple[tuple[str, str], ...] = ()

    def response(self) -> Response[Any]:
        body = self.body
        if self.media_type == "application/json" and (self.status != 200 or self.graphql_error):
            # JSON escapes, as json.dumps writes them: an error message may hold any text,
            # lone surrogates included, which UTF-8 (and so msgspec) cannot encode
            body = json.dumps(body).encode()
        return Response(body, status_code=self.status, media_type=self.media_type,
                        headers=dict(self.headers))


def _server(request: Request[Any, Any, Any]) -> FakeServer:
    server: FakeServer = request.app.state.fake
    return server


def _base_url(request: Request[Any, Any, Any]) -> str:
    return str(request.base_url).rstrip("/")


def _failure(failure: GraphQLFailure) -> Answer:
    status = 401 if failure.code == "AUTHENTICATION_ERROR" else 200
    return Answer(status, error_body(failure.code, failure.message, failure.data), failure.code)


def _fault_answer(rule: FaultRule, *, download: bool = False) -> Answer:
    answer = _fault_body(rule, download=download)
    if rule.retry_after is None:
        return answer
    return replace(answer, headers=(("Retry-After", str(rule.retry_after)),))


def _fault_body(rule: FaultRule, *, download: bool) -> Answer:
    message = rule.message if rule.message is not None else f"fake Labelbox fault {rule.id}"
    if rule.status == 429:
        text = RATE_LIMIT_MESSAGE if rule.message is None else f"{RATE_LIMIT_MESSAGE}: {message}"
        return Answer(429, {"message": text})
    if rule.status == 502:
        return Answer(502, "502 Bad Gateway", media_type="text/plain")
    if rule.status is not None:
        return Answer(rule.status, {"message": message})
    if rule.graphql_error is not None and download:
        return Answer(403, {"message": f"{message}: {rule.graphql_error}"})
    if rule.graphql_error is not None:
        return _failure(GraphQLFailure(rule.graphql_error, message))
    return Answer(504, {"message": f"{message}: gave up hanging"})


@dataclass(frozen=True)
class InFlight:
    """A request's view of the state's lifecycle: a reset while it waits makes it stale."""

    state: FakeLabelboxState
    generation: int
    interruption: threading.Event

    @classmethod
    def begin(cls, state: FakeLabelboxState) -> InFlight:
        return cls(state, state.generation, state.interruption())

    @property
    def stale(self) -> bool:
        return self.state.generation != self.generation

    async def delay(self, rule: FaultRule | None) -> None:
        if rule is None:
            return
        if rule.latency:
            await asyncio.sleep(rule.latency)
        if rule.hang:
            deadline = time.monotonic() + HANG_SECONDS
            while not self.interruption.is_set() and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)  # a threading.Event, set from any thread

    def record(self, entry: RequestRecord) -> None:
        self.state.record(entry, self.generation)


STALE = Answer(503, {"message": "fake Labelbox was reset while this request waited"})


def _authenticated(server: FakeServer, request: Request[Any, Any, Any]) -> bool:
    if server.api_key is None:
        return True
    return request.headers.get("authorization") == f"Bearer {server.api_key}"


def _execute(server: FakeServer, request: Request[Any, Any, Any], call: GraphQLRequest) -> Answer:
    if not _authenticated(server, request):
        return _failure(GraphQLFailure("AUTHENTICATION_ERROR", "Invalid API key"))
    operation = OPERATIONS.get(call.operation)
    if operation is None:
        return _failure(GraphQLFailure(
            "GRAPHQL_VALIDATION_FAILED",
            f"fake Labelbox does not implement the operation {call.operation!r}",
        ))
    try:
        data = operation.resolve(Call(
            server.state, call.query, call.variables, _base_url(request),
            server.auto_create_model_runs, call.upload,
        ))
    except GraphQLFailure as failure:
        return _failure(failure)
    except Exception as exc:  # a bug in the fake must still answer like Labelbox would
        logger.exception("fake Labelbox failed on %s", call.operation)
        return _failure(GraphQLFailure("INTERNAL_SERVER_ERROR", f"fake Labelbox bug: {exc!r}"))
    return Answer(200, {"data": data})


def _model_run_of(server: FakeServer, call: GraphQLRequest) -> str | None:
    operation = OPERATIONS.get(call.operation)
    if operation is None:
        value = call.variables.get("modelRunId")
        return value if isinstance(value, str) else None
    try:
        return operation.model_run_of(server.state, call.query, call.variables)
    except Exception:  # a malformed request; the operation itself will say so
        return None


@post(["/graphql", "/_gql"], status_code=200, include_in_schema=False)
async def graphql(request: Request[Any, Any, Any]) -> Response[Any]:
    server = _server(request)
    try:
        call = await read_request(request)
    except BadGraphQLRequest as exc:
        answer = Answer(400, error_body("GRAPHQL_PARSE_FAILED", str(exc)), "GRAPHQL_PARSE_FAILED")
        server.state.record(RequestRecord("<unreadable>", None, answer.status, timestamp(),
                                          answer.graphql_error, path=request.url.path))
        return answer.response()
    flight = InFlight.begin(server.state)
    model_run_id = _model_run_of(server, call)
    rule = server.state.draw_fault(call.operation, model_run_id)

    def record(answer: Answer) -> None:
        flight.record(RequestRecord(
            call.operation, model_run_id, answer.status, timestamp(), answer.graphql_error,
            rule.id if rule else None, request.url.path, request.headers.get("x-sdk-method"),
            call.variables,
        ))

    if rule is not None and rule.after_effect:
        # The change happens (and is logged) now; the answer is delayed, failed or lost.
        answer = _execute(server, request, call)
        if rule.answers:
            answer = _fault_answer(rule)
        record(answer)
        await flight.delay(rule)
        return answer.response()
    await flight.delay(rule)
    if flight.stale:
        return STALE.response()
    answer = _fault_answer(rule) if rule is not None and rule.answers else _execute(
        server, request, call)
    record(answer)
    return answer.response()


async def _download(
    request: Request[Any, Any, Any], operation: str, model_run_id: str | None, content: bytes | None
) -> Response[Any]:
    server = _server(request)
    flight = InFlight.begin(server.state)
    rule = server.state.draw_fault(operation, model_run_id)
    await flight.delay(rule)
    if flight.stale:
        return STALE.response()
    if rule is not None and rule.answers:
        answer = _fault_answer(rule, download=True)
    elif content is None:
        answer = Answer(404, {"message": "no such file"})
    else:
        answer = Answer(200, content, media_type=NDJSON)
    flight.record(RequestRecord(
        operation, model_run_id, answer.status, timestamp(), None, rule.id if rule else None,
        request.url.path,
    ))
    return answer.response()


@get("/_fake/files/exports/{task_id:str}", include_in_schema=False)
async def export_file(request: Request[Any, Any, Any]) -> Response[Any]:
    """A slice ``[start, end]`` (inclusive byte offsets) of an export's NDJSON."""
    task_id: str = request.path_params["task_id"]
    task = _server(request).state.export_task(task_id)
    content = None
    if task is not None and task.status == "COMPLETE":
        try:
            start = int(request.query_params.get("start", "0"))
            end = int(request.query_params.get("end", str(len(task.payload) - 1)))
        except ValueError:
            start, end = 0, -1
        if 0 <= start <= end < len(task.payload):
            content = task.payload[start:end + 1]
    return await _download(request, "DownloadExportFile", task.model_run_id if task else None,
                           content)


_IMPORT_FILES = {
    "errors": "DownloadImportErrorFile",
    "statuses": "DownloadImportStatusFile",
    "inputs": "DownloadImportInputFile",
}


@get("/_fake/files/imports/{import_id:str}/{kind:str}", include_in_schema=False)
async def import_file(request: Request[Any, Any, Any]) -> Response[Any]:
    """An import's input, status or error file (NDJSON)."""
    import_id: str = request.path_params["import_id"]
    kind: str = request.path_params["kind"]
    found = _server(request).state.prediction_import(import_id)
    content = None
    if found is not None and kind == "inputs":
        content = found.content
    elif found is not None and kind in ("errors", "statuses"):
        rows = [s for s in found.row_statuses if kind == "statuses" or s["status"] == "FAILURE"]
        content = "".join(_json_line(row) for row in rows).encode()
    return await _download(request, _IMPORT_FILES.get(kind, f"Download {kind}"),
                           found.model_run_id if found else None, content)


def _json_line(row: Any) -> str:
    return json.dumps(row) + "\n"  # JSON escapes: a status may hold any text


def create_app(
    state: FakeLabelboxState,
    *,
    api_key: str | None = None,
    auto_create_model_runs: bool = False,
) -> Litestar:
    """The app serving ``state``. With ``api_key``, GraphQL requests must carry
    ``Authorization: Bearer <api_key>``; with ``auto_create_model_runs``, an unknown model
    run id is registered (with the state's default rows) instead of being not found."""
    return Litestar(
        route_handlers=[graphql, export_file, import_file, *CONTROL_ROUTES],
        state=State({"fake": FakeServer(state, api_key, auto_create_model_runs)}),
        on_shutdown=[lambda: state.close()],
        openapi_config=None,
        logging_config=None,  # `trainbridge fake-labelbox` logs like the services
        request_max_body_size=512 * 1024 * 1024,
    )
