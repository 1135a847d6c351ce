"""Text PostgreSQL cannot store (NUL, lone surrogates) in a signed ``POST /model_run``: a 422
naming the field, never a 500, and nothing recorded."""

from __future__ import annotations

import itertools
import json
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlog.model_types import PostgresModelTypeCatalog
from eventlog.postgres import Database, PostgresEventStore
from tests.ingest.conftest import MODEL_TYPES, make_client, post_signed

RUN = "ckq7z0a1b0001"
VALID = {"modelType": "text_single_classification", "modelRunId": RUN, "modelId": "m-1",
         "organizationId": "org-1"}
REFUSED = ["\x00", "a\x00b", "\ud800", "x\udfff", "\udc80\x00"]


def raw_body(payload: dict[str, Any]) -> bytes:
    """JSON as Labelbox (or an attacker) would send it: NUL and surrogates as escapes."""
    return json.dumps(payload).encode()


@pytest.fixture
async def catalog(pool: asyncpg.Pool) -> PostgresModelTypeCatalog:
    catalog = PostgresModelTypeCatalog(Database(pool))
    await catalog.announce("test-trainer", MODEL_TYPES)
    return catalog


@pytest.mark.parametrize("text", REFUSED, ids=["nul", "nul-inside", "high", "low", "both"])
@pytest.mark.parametrize(("field", "payload"), [
    ("modelId", lambda t: {**VALID, "modelId": f"m-{t}"}),
    ("organizationId", lambda t: {**VALID, "organizationId": t}),
    ("extra", lambda t: {**VALID, "extra": t}),
    ("labels.names[1]", lambda t: {**VALID, "labels": {"names": ["ok", t]}}),
], ids=["modelId", "organizationId", "extra", "nested"])
async def test_a_field_postgresql_cannot_store_is_a_422_naming_it_and_records_nothing(
    store: PostgresEventStore, catalog: PostgresModelTypeCatalog, sql: asyncpg.Connection,
    text: str, field: str, payload: Any,
) -> None:
    http, _ = make_client(store, catalog)
    async with http:
        response = await post_signed(http, raw_body(payload(text)))

    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_request"
    assert response.json()["field"] == field
    assert "NUL character or a lone surrogate" in response.json()["detail"]
    assert await sql.fetchval("SELECT count(*) FROM events") == 0


async def test_a_refused_character_in_a_key_is_a_422_naming_the_key_with_a_marker(
    store: PostgresEventStore, catalog: PostgresModelTypeCatalog,
) -> None:
    http, _ = make_client(store, catalog)
    async with http:
        response = await post_signed(http, raw_body({**VALID, "bad\x00key": 1}))

    assert (response.status_code, response.json()["field"]) == (422, "bad\ufffdkey")


async def test_json_nested_deeper_than_a_webhook_needs_is_a_400_even_when_it_parses(
    store: PostgresEventStore, catalog: PostgresModelTypeCatalog,
) -> None:
    deep: Any = "leaf"
    for _ in range(500):
        deep = {"a": deep}
    http, _ = make_client(store, catalog, max_body_bytes=1024 * 1024)
    async with http:
        response = await post_signed(http, raw_body({**VALID, "deep": deep}))

    assert response.status_code == 400
    assert "nesting is too deep" in response.json()["detail"]


HOSTILE_TEXT = st.text(alphabet=st.characters(codec=None, categories=None), max_size=20) | \
    st.sampled_from(REFUSED).flatmap(
        lambda bad: st.tuples(st.text(max_size=5), st.text(max_size=5)).map(
            lambda ends: ends[0] + bad + ends[1]))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | HOSTILE_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(HOSTILE_TEXT, inner, max_size=3),
    max_leaves=8,
)
FIELDS = ["modelType", "modelRunId", "modelId", "organizationId"]
RUN_NUMBERS = itertools.count()


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(replaced=st.dictionaries(st.sampled_from(FIELDS), HOSTILE_TEXT | JSON_VALUES),
       extra=st.dictionaries(HOSTILE_TEXT, JSON_VALUES, max_size=3))
async def test_fuzz_every_field_with_nul_and_surrogates_never_gets_a_5xx(
    store: PostgresEventStore, catalog: PostgresModelTypeCatalog,
    replaced: dict[str, Any], extra: dict[str, Any],
) -> None:
    http, _ = make_client(store, catalog)
    async with http:
        # a new run each time: a repeat for a run in progress records nothing
        new_run = {"modelRunId": f"fuzz-{next(RUN_NUMBERS)}"}
        response = await post_signed(http, raw_body({**VALID, **new_run, **extra, **replaced}))

    assert response.status_code < 500, response.text
    assert response.status_code in (200, 202, 400, 422)


