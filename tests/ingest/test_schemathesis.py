"""Property-based run against ingest's own OpenAPI schema: whatever a client sends, signed
or not, valid or not, ingest never answers 5xx, and an unsigned request records nothing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.core import NOT_SET

from eventlog.memory import InMemoryEventStore
from eventlog.model_types import InMemoryModelTypeCatalog
from services.ingest.app import create_app
from services.ingest.bootstrap import IngestAdapters, wire_ingest
from services.ingest.settings import IngestSettings
from tests.ingest.conftest import SECRET, make_client
from tests.signing import signed


def openapi_document() -> dict[str, Any]:
    ingest = wire_ingest(IngestSettings(secrets=(SECRET,)),
                         IngestAdapters(InMemoryEventStore(), InMemoryModelTypeCatalog()))
    document: dict[str, Any] = create_app(ingest.deps).openapi_schema.to_schema()
    return document


schema = schemathesis.openapi.from_dict(openapi_document())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


def raw_body(generated: object) -> bytes:
    """The exact bytes to send (and sign): negative cases may be raw bytes or text."""
    if isinstance(generated, type(NOT_SET)):
        return b""
    if isinstance(generated, bytes):
        return generated
    if isinstance(generated, str):
        return generated.encode("utf-8", "surrogatepass")
    return json.dumps(generated).encode()


async def exercise(case: schemathesis.Case) -> None:
    store = InMemoryEventStore()
    http, _ = make_client(store, max_body_bytes=64 * 1024)
    body = raw_body(case.body)
    url = case.formatted_path
    headers = {k: str(v) for k, v in (case.headers or {}).items()}
    headers.pop("X-Hub-Signature", None)
    async with http:
        unsigned = await http.request(case.method, url, content=body, headers=headers,
                                      params=case.query)
        assert unsigned.status_code < 500, unsigned.text
        assert await store.read_all() == [], "an unsigned request was recorded"
        if url in ("/models", "/model_run") and case.method.upper() != "OPTIONS":
            assert unsigned.status_code in (401, 405), unsigned.text
        response = await http.request(
            case.method, url, content=body, headers={**headers, **signed(body, SECRET)},
            params=case.query,
        )
    assert response.status_code < 500, response.text
    if response.content:
        assert response.headers["content-type"].startswith(("application/json", "text/plain"))


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_5xx_and_unsigned_ones_record_nothing(
    case: schemathesis.Case,
) -> None:
    asyncio.run(exercise(case))
