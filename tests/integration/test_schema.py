"""The schema comes only from the migrations, is safe to migrate twice or concurrently, and
keeps the event log append-only."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from eventlog import NewEvent
from eventlog.postgres import PostgresEventStore, create_pool
from eventlog.settings import DatabaseSettings, asyncpg_dsn
from tests.conftest import with_database
from tests.services import ServiceEndpoints


async def run_migrate(url: str) -> subprocess.CompletedProcess[str]:
    """`trainbridge migrate`, as an operator or a container would run it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trainbridge", "migrate",
        env={"TRAINBRIDGE_DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return subprocess.CompletedProcess([], process.returncode, out.decode(), err.decode())


async def tables(url: str) -> set[str]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        )
    finally:
        await connection.close()
    return {r["tablename"] for r in rows}


async def test_migrate_builds_the_schema_and_is_safe_to_run_again(empty_database: str) -> None:
    first = await run_migrate(empty_database)
    second = await run_migrate(empty_database)

    assert first.returncode == 0, first.stderr
    assert "Running upgrade  -> 0001" in first.stderr
    assert second.returncode == 0, second.stderr
    assert "Running upgrade" not in second.stderr
    assert {"events", "outbox", "inbox", "alembic_version"} <= await tables(empty_database)


async def test_migrate_logs_one_json_object_per_line_like_every_service(
    empty_database: str,
) -> None:
    result = await run_migrate(empty_database)

    assert result.returncode == 0, result.stderr
    records = []
    for line in (result.stdout + result.stderr).splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
    assert all(isinstance(r, dict) and r.get("level") and r.get("message") for r in records)
    upgrades = [r["message"] for r in records if r["message"].startswith("Running upgrade")]
    assert upgrades[0].startswith("Running upgrade  -> 0001, Event log")
    # Alembic's multi-line revision descriptions stay inside their one object
    assert any("\n" in message for message in upgrades)
    assert records[0]["message"].startswith("trainbridge migrate ")


async def test_concurrent_migrations_apply_each_revision_once(empty_database: str) -> None:
    results = await asyncio.gather(*(run_migrate(empty_database) for _ in range(4)))

    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert sum("Running upgrade  -> 0001" in r.stderr for r in results) == 1


async def test_migrate_reports_an_unreachable_database_clearly() -> None:
    result = await run_migrate("postgresql://postgres@127.0.0.1:1/nowhere")

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "cannot reach the database" in result.stderr


@pytest.fixture
async def connection(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    pool = await create_pool(DatabaseSettings(url=database_url))
    await PostgresEventStore(pool).append("s-1", [NewEvent("E", {"n": 1})])
    await pool.close()
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    yield connection
    await connection.close()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET data = '{}'",
        "DELETE FROM events",
        "TRUNCATE events CASCADE",
    ],
)
async def test_the_event_log_refuses_to_change_history(
    connection: asyncpg.Connection, statement: str
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await connection.execute(statement)

    assert await connection.fetchval("SELECT count(*) FROM events") == 1


async def test_stream_versions_and_event_ids_are_unique(connection: asyncpg.Connection) -> None:
    constraints = {
        r["conname"]: r["def"]
        for r in await connection.fetch(
            "SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint "
            "WHERE conrelid = 'events'::regclass AND contype = 'u'"
        )
    }

    assert constraints == {
        "events_stream_version_key": "UNIQUE (stream_id, stream_version)",
        "events_event_id_key": "UNIQUE (event_id)",
    }
    with pytest.raises(asyncpg.UniqueViolationError):
        await connection.execute(
            "INSERT INTO events (stream_id, stream_version, event_id, event_type, data) "
            "VALUES ('s-1', 1, gen_random_uuid(), 'E', '{}')"
        )


@pytest.mark.parametrize(
    ("stream_id", "stream_version", "event_type"),
    [("", 1, "E"), ("s-2", 1, ""), ("s-2", 0, "E"), ("s-2", -1, "E")],
)
async def test_an_event_without_a_stream_a_type_or_a_positive_version_is_refused(
    connection: asyncpg.Connection, stream_id: str, stream_version: int, event_type: str
) -> None:
    # With hashes that the chain trigger leaves alone, so that only the checks can refuse.
    with pytest.raises(asyncpg.CheckViolationError):
        await connection.execute(
            "INSERT INTO events (stream_id, stream_version, event_id, event_type, data, "
            "prev_hash, chain_hash) VALUES ($1, $2, gen_random_uuid(), $3, '{}', "
            "CASE WHEN $2::bigint = 1 THEN NULL ELSE '\\x01'::bytea END, '\\x02')",
            stream_id, stream_version, event_type,
        )

    assert await connection.fetchval("SELECT count(*) FROM events") == 1


async def test_migrate_creates_a_missing_database(services: ServiceEndpoints) -> None:
    name = f"tb_missing_{uuid.uuid4().hex[:12]}"
    url = with_database(services.database_url, name)
    try:
        result = await run_migrate(url)

        assert result.returncode == 0, result.stderr
        assert "events" in await tables(url)
    finally:
        admin = await asyncpg.connect(asyncpg_dsn(services.database_url))
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
