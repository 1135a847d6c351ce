"""What Labelbox's ``POST /model_run`` carries, and the checks it must pass: free of I/O."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import msgspec

from eventlog.contract import stream_of
from eventlog.text import unstorable_field

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
_MAX_TEXT = 255
MAX_DEPTH = 64
"""Nesting allowed in a request (Labelbox's is flat): deeper JSON is a 400 before anything
walks it, so no later step (checking its text, encoding it for PostgreSQL) can recurse too
deep."""


class RequestProblem(ValueError):
    """The request cannot be accepted; ``status`` is the HTTP answer, ``field`` what is wrong."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


@dataclass(frozen=True)
class ModelRunRequest:
    model_type: str
    model_run_id: str
    model_id: str | None
    organization_id: str | None
    payload: dict[str, Any]
    """Everything that was received, for the record."""

    @property
    def stream_id(self) -> str:
        return stream_of(self.model_run_id)


def _decoded(body: bytes) -> Any:
    """``json.loads(body)``, in a sixth of its time for a body msgspec (Litestar's own JSON
    library) decodes. What msgspec refuses, the standard library decides, so the answers stay
    its own: it also takes what msgspec does not (a lone surrogate escape, which then gets the
    422 that names its field; NaN; a byte order mark) and words the 400s."""
    try:
        return msgspec.json.decode(body)
    except (msgspec.MsgspecError, UnicodeDecodeError):
        return json.loads(body)


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 that says what is wrong with it."""
    try:
        value = _decoded(body)
    except RecursionError:
        raise RequestProblem(400, "JSON nesting is too deep") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestProblem(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RequestProblem(400, f"body must be a JSON object, got {type(value).__name__}")
    if _deeper_than(value, MAX_DEPTH):
        raise RequestProblem(400, f"JSON nesting is too deep (at most {MAX_DEPTH} levels)")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` levels (without recursing)."""
    level: list[Any] = [value]
    for _ in range(limit):
        level = [child for item in level if isinstance(item, _CONTAINERS)
                 for child in (item.values() if isinstance(item, dict) else item)]
        if not level:
            return False
    return any(isinstance(item, _CONTAINERS) for item in level)


_CONTAINERS = (dict, list)


def _text(payload: dict[str, Any], field: str, *, required: bool) -> str | None:
    value = payload.get(field)
    if value is None:
        if required:
            raise RequestProblem(422, f"{field} is required", field)
        return None
    if not isinstance(value, str):
        raise RequestProblem(422, f"{field} must be a string", field)
    if required and not value.strip():
        raise RequestProblem(422, f"{field} must not be empty", field)
    if len(value) > _MAX_TEXT:
        raise RequestProblem(422, f"{field} is longer than {_MAX_TEXT} characters", field)
    return value


def validate(payload: dict[str, Any], known_model_types: Collection[str]) -> ModelRunRequest:
    refused = unstorable_field(payload)
    if refused is not None:  # the whole payload is recorded: every field must be storable
        raise RequestProblem(
            422, f"{refused} holds a NUL character or a lone surrogate, which cannot be stored",
            refused,
        )
    model_type = _text(payload, "modelType", required=True)
    model_run_id = _text(payload, "modelRunId", required=True)
    assert model_type is not None and model_run_id is not None
    if not _RUN_ID.match(model_run_id):
        raise RequestProblem(
            422, "modelRunId may hold only letters, digits, '-' and '_' (at most 128)",
            "modelRunId",
        )
    if model_type not in known_model_types:
        offered = ", ".join(sorted(known_model_types)) or "none yet: no trainer has announced any"
        raise RequestProblem(
            422, f"unknown modelType {model_type!r}; this server trains: {offered}", "modelType"
        )
    return ModelRunRequest(
        model_type=model_type,
        model_run_id=model_run_id,
        model_id=_text(payload, "modelId", required=False),
        organization_id=_text(payload, "organizationId", required=False),
        payload=payload,
    )
