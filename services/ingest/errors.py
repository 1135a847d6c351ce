"""Every error ingest answers is JSON with a clear message; nothing a client sends is a 500."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException

from eventlog import ConcurrencyError, StoreUnavailableError, UnstorableTextError
from services.ingest.model_run import RequestProblem

logger = logging.getLogger(__name__)

UNAUTHORIZED_BODY = {"error": "unauthorized", "detail": "missing or invalid webhook signature"}


def error_response(status: int, error: str, detail: str, **extra: Any) -> Response[Any]:
    return Response({"error": error, "detail": detail, **extra}, status_code=status)


def on_request_problem(_: Request[Any, Any, Any], exc: RequestProblem) -> Response[Any]:
    error = {400: "bad_request", 422: "invalid_request"}.get(exc.status, "bad_request")
    extra = {"field": exc.field} if exc.field else {}
    return error_response(exc.status, error, str(exc), **extra)


def on_store_unavailable(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.warning("database unavailable: %s", exc)
    response = error_response(
        503, "unavailable", "the event log is unavailable; nothing was recorded, retry later"
    )
    response.headers["Retry-After"] = "5"
    return response


def on_unstorable_text(_: Request[Any, Any, Any], exc: UnstorableTextError) -> Response[Any]:
    """A backstop: the request is checked field by field before anything is written."""
    logger.warning("refused a request whose text cannot be stored: %s", exc)
    return error_response(422, "invalid_request",
                          "the request holds a NUL character or a lone surrogate")


def on_http_exception(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    names = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
             413: "payload_too_large"}
    detail = {413: "request body is larger than the configured limit"}.get(
        exc.status_code, exc.detail
    )
    response = error_response(exc.status_code, names.get(exc.status_code, "error"), detail)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def on_unexpected(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.exception("unexpected error", exc_info=exc)
    return error_response(500, "internal_error", "unexpected error; it has been logged")


EXCEPTION_HANDLERS: dict[int | type[Exception], Any] = {
    RequestProblem: on_request_problem,
    StoreUnavailableError: on_store_unavailable,
    ConcurrencyError: on_store_unavailable,
    UnstorableTextError: on_unstorable_text,
    HTTPException: on_http_exception,
    Exception: on_unexpected,
}
