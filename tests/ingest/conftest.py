from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from eventlog import EventStore
from eventlog.memory import InMemoryEventStore
from eventlog.model_types import InMemoryModelTypeCatalog, ModelType, ModelTypeCatalog
from services.ingest.app import ReadinessCheck
from services.ingest.bootstrap import IngestAdapters, wire_ingest
from services.ingest.metrics import IngestMetrics
from services.ingest.settings import IngestSettings
from tests.signing import signed

SECRET = "test_secret"
OLD_SECRET = "previous_secret"
MODEL_TYPES = [
    ModelType("text_single_classification", "TF-IDF + logistic regression"),
    ModelType("bounding_box", "boxes"),
]


def make_client(
    store: EventStore,
    catalog: ModelTypeCatalog | None = None,
    *,
    max_body_bytes: int = 4096,
    readiness: dict[str, ReadinessCheck] | None = None,
) -> tuple[httpx.AsyncClient, IngestMetrics]:
    """A client of ingest as production wires it (without a broker), on ``store``."""
    ingest = wire_ingest(
        IngestSettings(secrets=(OLD_SECRET, SECRET), max_body_bytes=max_body_bytes),
        IngestAdapters(store, catalog or InMemoryModelTypeCatalog(MODEL_TYPES),
                       readiness=readiness or {}),
    )
    transport = httpx.ASGITransport(app=ingest.app(),  # type: ignore[arg-type]
                                    client=("203.0.113.7", 51234))
    return httpx.AsyncClient(transport=transport, base_url="http://ingest"), ingest.deps.metrics


@pytest.fixture
def memory_store() -> InMemoryEventStore:
    return InMemoryEventStore()


@pytest.fixture
async def client(memory_store: InMemoryEventStore) -> AsyncIterator[httpx.AsyncClient]:
    http, _ = make_client(memory_store)
    async with http:
        yield http


def body_of(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


async def post_signed(
    client: httpx.AsyncClient, body: bytes, secret: str = SECRET, **kw: Any
) -> httpx.Response:
    return await client.post("/model_run", content=body, headers=signed(body, secret, **kw))
