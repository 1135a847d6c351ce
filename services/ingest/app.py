"""The HTTP surface Labelbox calls: ``GET /models`` and ``POST /model_run``, plus health,
readiness and the OpenAPI schema. ``/metrics`` is not here: it is served on a port of its own
(:mod:`services.ingest.entrypoint`), never on the public webhook port."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)

from eventlog import EventStore, json_logs, telemetry
from eventlog.model_types import ModelTypeCatalog
from eventlog.tracing import trace_id_of, valid_traceparent
from services.ingest.activity import RunActivity, log_activity
from services.ingest.errors import EXCEPTION_HANDLERS, UNAUTHORIZED_BODY
from services.ingest.intake import Receipt, request_training
from services.ingest.known_model_types import KnownModelTypes
from services.ingest.lingering import lingering_refusals
from services.ingest.metrics import IngestMetrics
from services.ingest.model_run import parse_json_object, validate
from services.ingest.settings import IngestSettings
from services.ingest.signature import SignatureMatch, verify
from services.ingest.tracing import tracing_plugins

logger = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[str | None]]
"""Returns ``None`` when healthy, else what is wrong."""


@dataclass(frozen=True)
class IngestDependencies:
    settings: IngestSettings
    store: EventStore
    catalog: ModelTypeCatalog
    """Read afresh by ``GET /models``."""
    metrics: IngestMetrics
    readiness: dict[str, ReadinessCheck]
    known_model_types: KnownModelTypes
    """The catalogue's names as ``POST /model_run`` checks them (no query per request)."""
    activity: RunActivity = field(default_factory=RunActivity)


def _deps(state: State) -> IngestDependencies:
    deps: IngestDependencies = state.deps
    return deps


def _verified(request: Request[Any, Any, Any], body: bytes) -> SignatureMatch | None:
    deps = _deps(request.app.state)
    match = verify(body, request.headers, deps.settings.secrets)
    if match is None:
        deps.metrics.signature_failures.inc()
        logger.warning("refused %s %s: missing or invalid signature",
                       request.method, request.url.path)
    return match


def _correlation_id(request_id: str | None) -> str:
    """The caller's X-Request-Id when it is a sane token, else a new uuid."""
    if request_id and len(request_id) <= 128 and request_id.isascii() and request_id.isprintable():
        return request_id
    return str(uuid.uuid4())


def _string(description: str) -> Schema:
    return Schema(type=OpenAPIType.STRING, description=description)


@dataclass
class ModelRunOperation(Operation):
    """Documents the body that the handler reads raw (to verify its signature first)."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            content={"application/json": OpenAPIMediaType(schema=Schema(
                type=OpenAPIType.OBJECT,
                required=["modelType", "modelRunId"],
                properties={
                    "modelType": _string("one of the keys GET /models returns"),
                    "modelRunId": _string("Labelbox model run id"),
                    "modelId": _string("Labelbox model id"),
                    "organizationId": _string("Labelbox organization id"),
                },
            ))},
        )


@dataclass
class ErrorBody:
    error: str
    detail: str
    field: str | None = None


def _error(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=ErrorBody, description=description, generate_examples=False)


_SIGNATURE_DOC = "X-Hub-Signature: sha1=<hex HMAC-SHA1(secret, raw body)>"
_ERRORS = {
    400: _error("malformed JSON, not an object, or nested too deep"),
    401: _error(f"missing or invalid signature ({_SIGNATURE_DOC})"),
    413: _error("body larger than TRAINBRIDGE_MAX_BODY_BYTES"),
    422: _error("a field is missing or invalid, or modelType is unknown"),
    503: _error("the event log is unavailable; nothing was recorded"),
}


@get("/models", summary="Model types this server can train",
     responses={401: _ERRORS[401], 503: _ERRORS[503]})
async def list_models(request: Request[Any, Any, Any]) -> Response[Any]:
    if _verified(request, await request.body()) is None:
        return Response(UNAUTHORIZED_BODY, status_code=401)
    model_types = await _deps(request.app.state).catalog.list()
    return Response({t.name: {"description": t.description} for t in model_types})


@post("/model_run", summary="Start training a model run", operation_class=ModelRunOperation,
      status_code=202, responses=_ERRORS)
async def start_model_run(request: Request[Any, Any, Any]) -> Response[Any]:
    deps = _deps(request.app.state)
    body = await request.body()
    match = _verified(request, body)
    if match is None:
        return Response(UNAUTHORIZED_BODY, status_code=401)
    payload = parse_json_object(body)
    known = await deps.known_model_types.including(payload.get("modelType"))
    run = validate(payload, known)
    json_logs.model_run_id.set(run.model_run_id)
    receipt = Receipt(
        received_at=datetime.now(UTC),
        remote_address=request.client.host if request.client else None,
        secret_index=match.secret_index,
        signature_algorithms=match.algorithms,
        body_sha256=hashlib.sha256(body).hexdigest(),
        correlation_id=_correlation_id(request.headers.get("x-request-id")),
        traceparent=valid_traceparent(request.headers.get("traceparent")),
    )
    json_logs.correlation_id.set(receipt.correlation_id)
    json_logs.trace_id.set(trace_id_of(telemetry.current_traceparent() or receipt.traceparent))
    outcome = await request_training(deps.store, run, receipt)
    answer = {"modelRunId": run.model_run_id, "attempt": outcome.attempt,
              "status": outcome.state.value}
    if outcome.appended:
        deps.metrics.events_appended.inc()
        deps.activity.accepted += 1
        logger.debug("accepted attempt %d of %s (%s)", outcome.attempt, run.model_run_id,
                     run.model_type)
        return Response({**answer, "eventId": str(outcome.event_id)}, status_code=202)
    deps.activity.repeats += 1
    logger.debug("model run %s already %s; nothing appended", run.model_run_id,
                 outcome.state.value)
    return Response(answer, status_code=200)


@get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", summary="Readiness: database and broker reachable")
async def readyz(request: Request[Any, Any, Any]) -> Response[Any]:
    checks = {name: await check() for name, check in _deps(request.app.state).readiness.items()}
    ready = all(problem is None for problem in checks.values())
    body = {"status": "ready" if ready else "unavailable",
            "checks": {name: problem or "ok" for name, problem in checks.items()}}
    return Response(body, status_code=200 if ready else 503)


class IngestApp(Litestar):
    """Litestar, with refusals of unread bodies (413) answered after a lingering drain
    (:mod:`services.ingest.lingering`), so the client reads its 413."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lingering = lingering_refusals(super().__call__)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._lingering(scope, receive, send)


def logging_activity(
    activity: RunActivity,
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """A lifespan that logs ``activity`` once a minute (:mod:`services.ingest.activity`)."""

    @asynccontextmanager
    async def summarising(_: Litestar) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(log_activity(activity, stop))
        try:
            yield
        finally:
            stop.set()
            await task

    return summarising


def create_app(
    deps: IngestDependencies,
    lifespan: Sequence[Callable[[Litestar], AbstractAsyncContextManager[None]]] = (),
) -> Litestar:
    """``lifespan`` runs alongside the server (the outbox relay): started before the first
    request, stopped after the last one, inside the server's graceful shutdown."""
    return IngestApp(
        lifespan=[logging_activity(deps.activity), *lifespan],
        route_handlers=[list_models, start_model_run, healthz, readyz],
        state=State({"deps": deps}),
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=deps.settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Trainbridge ingest", version="0.1.0", path="/schema",
            description="Labelbox's 'Train Model' webhook. Every request must carry "
            + _SIGNATURE_DOC + " (over an empty body for GET /models).",
        ),
        plugins=tracing_plugins(),
        debug=False,
        logging_config=None,  # the entry point configures JSON logs; keep Litestar's hands off
    )
