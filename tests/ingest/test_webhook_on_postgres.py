"""The webhook against the real event log: concurrency and a database outage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from eventlog.model_types import ModelType, PostgresModelTypeCatalog
from eventlog.postgres import Database, PostgresEventStore, create_pool
from eventlog.settings import DatabaseSettings, asyncpg_dsn
from tests.ingest.conftest import MODEL_TYPES, SECRET, body_of, make_client, post_signed
from tests.ingest.tcp_proxy import CuttableProxy
from tests.signing import signed


@pytest.fixture
async def catalog(pool: asyncpg.Pool) -> PostgresModelTypeCatalog:
    catalog = PostgresModelTypeCatalog(Database(pool))
    await catalog.announce("test-trainer", MODEL_TYPES)
    return catalog


async def test_fifty_concurrent_identical_requests_append_exactly_one_event(
    store: PostgresEventStore, catalog: PostgresModelTypeCatalog, sql: asyncpg.Connection,
) -> None:
    http, _ = make_client(store, catalog)
    body = body_of(modelType="bounding_box", modelRunId="run-50")
    async with http:
        responses = await asyncio.gather(*(post_signed(http, body) for _ in range(50)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 49 + [202]
    assert await sql.fetchval(
        "SELECT count(*) FROM events WHERE stream_id = 'model_run-run-50'"
    ) == 1
    assert await sql.fetchval("SELECT count(*) FROM outbox") == 1


@pytest.fixture
async def proxy(database_url: str) -> AsyncIterator[CuttableProxy]:
    target = urlsplit(asyncpg_dsn(database_url))
    proxy = CuttableProxy(target.hostname or "127.0.0.1", target.port or 5432)
    await proxy.start()
    yield proxy
    await proxy.cut()


async def test_a_database_outage_is_a_503_that_records_nothing_and_recovers(
    database_url: str, catalog: PostgresModelTypeCatalog, proxy: CuttableProxy,
    sql: asyncpg.Connection,
) -> None:
    parts = urlsplit(asyncpg_dsn(database_url))
    via_proxy = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
    pool = await create_pool(DatabaseSettings(url=via_proxy, pool_size=4))
    store = PostgresEventStore(pool)
    http, _ = make_client(store, catalog)
    first = body_of(modelType="bounding_box", modelRunId="before")
    during = body_of(modelType="bounding_box", modelRunId="during")
    try:
        async with http:
            assert (await post_signed(http, first)).status_code == 202

            await proxy.cut()
            outage = await post_signed(http, during)
            assert outage.status_code == 503
            assert outage.json()["error"] == "unavailable"
            assert outage.headers["Retry-After"] == "5"

            await proxy.start()  # the database is back
            recovered = await post_signed(http, during)
            assert recovered.status_code == 202
    finally:
        await pool.close()

    rows = await sql.fetch("SELECT stream_id FROM events ORDER BY global_position")
    assert [r["stream_id"] for r in rows] == ["model_run-before", "model_run-during"]


async def test_get_models_lists_the_announced_types_even_with_every_trainer_gone(
    store: PostgresEventStore, catalog: PostgresModelTypeCatalog,
) -> None:
    await catalog.announce("trainer-2", [ModelType("image_single_classification", "pixels")])
    http, _ = make_client(store, catalog)  # no trainer process runs in this test
    async with http:
        response = await http.get("/models", headers=signed(b"", SECRET))

    assert response.status_code == 200
    assert sorted(response.json()) == [
        "bounding_box", "image_single_classification", "text_single_classification"
    ]
    assert response.json()["image_single_classification"] == {"description": "pixels"}
