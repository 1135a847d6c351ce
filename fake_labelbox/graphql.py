"""Just enough GraphQL: the operation name of a query, the two request encodings the SDK
uses (JSON, and the GraphQL multipart request spec for uploads) and error answers in the
shape ``lbox.request_client.RequestClient.execute`` turns into exceptions."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.datastructures import UploadFile

_OPERATION = re.compile(r"^\s*(?:query|mutation|subscription)\s+([A-Za-z_][A-Za-z0-9_]*)")
RATE_LIMIT_MESSAGE = "You have exceeded the rate limit"
"""The SDK raises ``ApiLimitError`` for a 429 whose JSON message starts "You have exceeded"."""


class GraphQLFailure(Exception):
    """An operation's answer is a GraphQL error with this ``extensions.code``."""

    def __init__(self, code: str, message: str, *, data: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = dict(data) if data is not None else None


class BadGraphQLRequest(ValueError):
    """A body that is not a GraphQL request at all."""


@dataclass(frozen=True)
class GraphQLRequest:
    query: str
    variables: dict[str, Any]
    upload: bytes | None = None
    """The file of a multipart request (the part ``map`` assigns to ``variables.file``)."""

    @property
    def operation(self) -> str:
        match = _OPERATION.match(self.query)
        return match.group(1) if match else "<anonymous>"


def _request_from(operations: object, upload: bytes | None = None) -> GraphQLRequest:
    if not isinstance(operations, Mapping) or not isinstance(operations.get("query"), str):
        raise BadGraphQLRequest("expected a JSON object with a 'query' string")
    variables = operations.get("variables") or {}
    if not isinstance(variables, Mapping):
        raise BadGraphQLRequest("'variables' must be a JSON object")
    return GraphQLRequest(operations["query"], dict(variables), upload)


async def read_request(request: Request[Any, Any, Any]) -> GraphQLRequest:
    """Parses a JSON or multipart GraphQL request."""
    content_type = request.headers.get("content-type", "")
    try:
        if not content_type.startswith("multipart/form-data"):
            return _request_from(json.loads(await request.body()))
        form = await request.form()
        operations = json.loads(str(form.get("operations")))
        files = json.loads(str(form.get("map") or "{}"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadGraphQLRequest(f"unreadable GraphQL request: {exc}") from exc
    if not isinstance(files, Mapping):
        raise BadGraphQLRequest("'map' must be a JSON object")
    upload = None
    for part, paths in files.items():
        if isinstance(paths, list) and "variables.file" in paths:
            value = form.get(part)
            if isinstance(value, UploadFile):
                upload = await value.read()
            elif isinstance(value, str):
                upload = value.encode()
    if upload is None:
        raise BadGraphQLRequest("multipart request without a file part for variables.file")
    return _request_from(operations, upload)


def error_body(
    code: str, message: str, data: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "data": dict(data) if data is not None else None,
        "errors": [{"message": message, "locations": [], "extensions": {"code": code}}],
    }
