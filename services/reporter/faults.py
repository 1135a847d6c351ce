"""Which Labelbox failures are worth retrying.

Retried: 5xx, timeouts, network errors and 429 (the SDK never retries 429 itself), and an
unrecognised ``LabelboxError`` (e.g. a proxy's HTML error page the SDK cannot parse).
Permanent: authentication, authorization, validation, not found, a request the SDK refused
before sending it (``ValueError``/``TypeError``), and any other exception (a bug here).
Classification works on the SDK's exception types only, so the adapter stays thin."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests
from google.api_core.exceptions import RetryError
from lbox import exceptions as lbox

_PERMANENT: tuple[type[BaseException], ...] = (
    lbox.AuthenticationError,
    lbox.AuthorizationError,
    lbox.ResourceNotFoundError,
    lbox.InvalidQueryError,
    lbox.ValidationFailedError,
    lbox.MalformedQueryException,
    lbox.InvalidAttributeError,
    lbox.ResourceConflict,
    lbox.MALValidationError,
    lbox.UnprocessableEntityError,
    lbox.OperationNotAllowedException,
    lbox.OperationNotSupportedException,
    lbox.UuidError,
    lbox.ConfidenceNotSupportedException,
    lbox.CustomMetricsNotSupportedException,
)

_RETRYABLE: tuple[type[BaseException], ...] = (
    lbox.InternalServerError,
    lbox.TimeoutError,
    lbox.NetworkError,
    lbox.ApiLimitError,
    lbox.ProcessingWaitTimeout,
    RetryError,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    ConnectionError,
    TimeoutError,
)


class Outcome(enum.Enum):
    OK = "ok"
    RETRYABLE = "retryable_error"
    PERMANENT = "permanent_error"


def classify(exc: BaseException) -> Outcome:
    if isinstance(exc, _PERMANENT):
        return Outcome.PERMANENT
    if isinstance(exc, _RETRYABLE):
        return Outcome.RETRYABLE
    if isinstance(exc, requests.exceptions.HTTPError):
        status = exc.response.status_code if exc.response is not None else 0
        return Outcome.RETRYABLE if status == 429 or status >= 500 else Outcome.PERMANENT
    if isinstance(exc, lbox.LabelboxError):
        return Outcome.RETRYABLE
    return Outcome.PERMANENT


def rate_limited(exc: BaseException) -> bool:
    """Whether Labelbox answered 429 (the SDK raises ``ApiLimitError`` for it)."""
    if isinstance(exc, lbox.ApiLimitError):
        return True
    return (isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None
            and exc.response.status_code == 429)


RETRY_AFTER = "trainbridge_retry_after_seconds"
"""The attribute the adapter sets on an SDK exception whose answer carried ``Retry-After``
(the SDK's exceptions do not keep the response)."""


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds (from seconds or an HTTP date; a date past is 0), or
    ``None`` when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def retry_after(exc: BaseException) -> float | None:
    """How long Labelbox asked to wait before the next attempt (429 and 503 answers)."""
    seconds = getattr(exc, RETRY_AFTER, None)
    if isinstance(seconds, int | float):
        return float(seconds)
    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None \
            and exc.response.status_code in (429, 503):
        return parse_retry_after(exc.response.headers.get("Retry-After"))
    return None
