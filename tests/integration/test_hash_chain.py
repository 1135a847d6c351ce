"""Tamper evidence (migration 0006 and ``trainbridge verify``): rows changed or removed by a
superuser who bypasses the append-only triggers are reported, on real PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command

from eventlog import NewEvent
from eventlog.migrate import alembic_config, upgrade
from eventlog.postgres import Database, PostgresEventStore, create_pool
from eventlog.settings import DatabaseSettings, asyncpg_dsn
from services.reporter.audit import AuditEntry, CallContext, PostgresAuditLog
from tests.conftest import with_database
from tests.services import ServiceEndpoints
from trainbridge.cli import main


async def run_verify(
    database_url: str, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    """``trainbridge verify ARGS``: its exit code and what it printed."""
    capsys.readouterr()
    code = await asyncio.to_thread(
        main, ["verify", *args], {"TRAINBRIDGE_DATABASE_URL": database_url})
    return code, capsys.readouterr().out


async def verify_json(database_url: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    _, out = await run_verify(database_url, capsys, "--json")
    document: dict[str, Any] = json.loads(out)
    return document


def findings(document: dict[str, Any], table: str) -> list[tuple[str, int, str]]:
    return [(f["chain"], f["position"], f["kind"]) for f in document["tables"][table]["findings"]]


async def tamper(sql: asyncpg.Connection, statement: str, *args: object) -> str:
    """Run ``statement`` as a superuser with every ordinary trigger off for the session."""
    await sql.execute("SET session_replication_role = replica")
    try:
        result: str = await sql.execute(statement, *args)
    finally:
        await sql.execute("SET session_replication_role = DEFAULT")
    return result


async def record_calls(pool: asyncpg.Pool, model_run_id: str, count: int) -> None:
    audit = PostgresAuditLog(Database(pool), reporter_id="reporter-test")
    started = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    for n in range(count):
        await audit.record(AuditEntry(
            context=CallContext(model_run_id, f"model_run-{model_run_id}", "status",
                                run_attempt=1),
            sdk_method="ModelRun.update_status", request={"status": "TRAINING", "n": n},
            call_try=1, started_at=started + timedelta(seconds=n),
            ended_at=started + timedelta(seconds=n, milliseconds=123.456), outcome="ok",
            response={"ok": True},
        ))


async def record_calls_before_0009(pool: asyncpg.Pool, model_run_id: str, count: int) -> None:
    """Rows as the reporter wrote them before migration 0009: the call's try in ``attempt``,
    the run's attempt only inside the delivery key (attempts 1, 2, 1, 2...)."""
    started = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    for n in range(count):
        await pool.execute(
            "INSERT INTO labelbox_calls (model_run_id, stream_id, delivery_key, action, "
            "sdk_method, request, response, attempt, started_at, ended_at, duration_ms, "
            "outcome, reporter_id) VALUES ($1, $2, $3, 'status', 'ModelRun.update_status', "
            "$4, $5, 1, $6, $7, 123.456, 'ok', 'reporter-test')",
            model_run_id, f"model_run-{model_run_id}", f"attempt-{1 + n % 2}/status/{n}",
            {"status": "TRAINING", "n": n}, {"ok": True}, started + timedelta(seconds=n),
            started + timedelta(seconds=n, milliseconds=123.456))


async def append_before_0010(pool: asyncpg.Pool, stream_id: str, datas: list[object]) -> None:
    """Events as the append statement wrote them before migration 0010 (which it now needs):
    the columns only, the rest left to the defaults and to the triggers of that time."""
    head = await pool.fetchval(
        "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1", stream_id)
    for n, data in enumerate(datas, start=head + 1):
        await pool.execute(
            "INSERT INTO events (stream_id, stream_version, event_id, event_type, data) "
            "VALUES ($1, $2, $3, 'E', $4)", stream_id, n, uuid.uuid4(), data)


@pytest.fixture
async def log(store: PostgresEventStore, pool: asyncpg.Pool) -> None:
    """Two streams of three events and two model runs of three audited calls."""
    for stream in ("model_run-a", "model_run-b"):
        for n in range(3):
            await store.append(stream, [NewEvent("E", {"n": n})])
    await record_calls(pool, "a", 3)
    await record_calls(pool, "b", 3)


async def test_an_intact_log_verifies(
    log: None, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = await run_verify(database_url, capsys)

    assert code == 0, out
    assert "events: 6 rows in 2 streams checked: intact" in out
    assert "labelbox_calls: 6 rows in 2 model runs checked: intact" in out
    assert "OK: every hash chain is intact" in out


async def test_an_updated_event_is_reported(
    log: None, sql: asyncpg.Connection, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    position = await sql.fetchval(
        "SELECT global_position FROM events WHERE stream_id = 'model_run-a' "
        "AND stream_version = 2")
    assert await tamper(
        sql, "UPDATE events SET data = '{\"n\": 99}' WHERE global_position = $1", position,
    ) == "UPDATE 1"

    code, out = await run_verify(database_url, capsys)

    assert code == 1
    assert (f"ALTERED      events stream 'model_run-a' [row {position}]: stream_version 2: "
            "its content does not match its stored hash") in out
    assert "TAMPERED: 1 problem(s) found" in out
    document = await verify_json(database_url, capsys)
    assert document["intact"] is False
    assert findings(document, "events") == [("model_run-a", 2, "altered")]
    assert findings(document, "labelbox_calls") == []


async def test_a_removed_event_is_reported_as_a_gap(
    log: None, sql: asyncpg.Connection, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The other way around the trigger: switch it off (inside a transaction, as an intruder
    # would, so nobody sees it off).
    async with sql.transaction():
        await sql.execute("ALTER TABLE events DISABLE TRIGGER events_append_only")
        await sql.execute(
            "DELETE FROM events WHERE stream_id = 'model_run-b' AND stream_version = 2")
        await sql.execute("ALTER TABLE events ENABLE TRIGGER events_append_only")

    code, out = await run_verify(database_url, capsys)

    assert code == 1
    assert ("REMOVED      events stream 'model_run-b'" in out
            and "stream_version 2 missing before 3 (removed)" in out)
    assert findings(await verify_json(database_url, capsys), "events") == [
        ("model_run-b", 3, "removed")]


async def test_removing_the_first_events_of_a_stream_is_a_gap_too(
    log: None, sql: asyncpg.Connection, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await tamper(sql, "DELETE FROM events WHERE stream_id = 'model_run-a' "
                      "AND stream_version < 3")

    document = await verify_json(database_url, capsys)

    assert findings(document, "events") == [("model_run-a", 3, "removed")]
    assert "stream_version 1..2 missing before 3" in document["tables"]["events"][
        "findings"][0]["detail"]


async def test_an_event_rewritten_with_a_recomputed_hash_breaks_the_next_link(
    log: None, sql: asyncpg.Connection, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await tamper(
        sql,
        "UPDATE events e SET data = '{\"n\": 7}', "
        "chain_hash = events_chain_hash(e.prev_hash, ROW(e.global_position, e.transaction_id, "
        "e.stream_id, e.stream_version, e.event_id, e.event_type, '{\"n\": 7}'::jsonb, "
        "e.metadata, e.recorded_at, e.prev_hash, NULL)::events) "
        "WHERE stream_id = 'model_run-a' AND stream_version = 1",
    )

    document = await verify_json(database_url, capsys)

    assert findings(document, "events") == [("model_run-a", 2, "broken_link")]
    detail = document["tables"]["events"]["findings"][0]["detail"]
    assert "1 was rewritten together with its hash" in detail


async def test_an_updated_audit_row_is_reported(
    log: None, sql: asyncpg.Connection, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    call_id = await sql.fetchval(
        "SELECT call_id FROM labelbox_calls WHERE model_run_id = 'b' AND chain_seq = 3")
    await tamper(sql, "UPDATE labelbox_calls SET outcome = 'permanent_error' "
                      "WHERE call_id = $1", call_id)

    code, out = await run_verify(database_url, capsys)

    assert code == 1
    assert (f"ALTERED      labelbox_calls model run 'b' [row {call_id}]: chain_seq 3: "
            "its content does not match its stored hash") in out
    document = await verify_json(database_url, capsys)
    assert findings(document, "labelbox_calls") == [("b", 3, "altered")]
    assert findings(document, "events") == []


async def test_a_removed_audit_row_is_reported(
    log: None, sql: asyncpg.Connection, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await tamper(sql, "DELETE FROM labelbox_calls WHERE model_run_id = 'a' AND chain_seq = 2")

    code, out = await run_verify(database_url, capsys)

    assert code == 1
    assert "chain_seq 2 missing before 3 (removed)" in out
    assert findings(await verify_json(database_url, capsys), "labelbox_calls") == [
        ("a", 3, "removed")]


async def test_a_stream_can_be_verified_alone(
    log: None, sql: asyncpg.Connection, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await tamper(sql, "DELETE FROM events WHERE stream_id = 'model_run-b' "
                      "AND stream_version = 2")

    clean, out = await run_verify(database_url, capsys, "--stream", "model_run-a")
    broken, _ = await run_verify(database_url, capsys, "--stream", "model_run-b")

    assert clean == 0, out
    assert "events: 3 rows in 1 stream checked: intact" in out
    assert "labelbox_calls: 3 rows in 1 model run checked: intact" in out
    assert broken == 1


async def test_a_multi_event_append_chains_each_event_to_the_one_before(
    store: PostgresEventStore, sql: asyncpg.Connection, database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await store.append("model_run-m", [NewEvent("E", {"n": 0})])
    await store.append("model_run-m", [NewEvent("E", {"n": n}) for n in (1, 2, 3)])

    rows = await sql.fetch(
        "SELECT stream_version, prev_hash, chain_hash, transaction_id::text AS tx "
        "FROM events WHERE stream_id = 'model_run-m' ORDER BY stream_version")

    assert [r["stream_version"] for r in rows] == [1, 2, 3, 4]
    assert len({r["tx"] for r in rows[1:]}) == 1  # versions 2..4: one statement
    assert rows[0]["prev_hash"] is None
    assert [r["prev_hash"] for r in rows[1:]] == [r["chain_hash"] for r in rows[:-1]]
    assert len({r["chain_hash"] for r in rows}) == 4
    assert (await run_verify(database_url, capsys))[0] == 0


def _jsonb_text(value: object) -> str:
    """jsonb's canonical text: keys by length, then bytes; ", " and ": " separators."""
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: (len(kv[0].encode()), kv[0].encode()))
        return "{" + ", ".join(f"{_jsonb_text(k)}: {_jsonb_text(v)}" for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_jsonb_text(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


async def test_the_hash_is_the_documented_encoding_whatever_the_session_settings(
    store: PostgresEventStore, sql: asyncpg.Connection
) -> None:
    """An independent verifier (outside PostgreSQL) can recompute it: sha256(prev || UTF-8
    of [stream_id, stream_version, event_id, event_type, data, metadata, recorded_at (UTC),
    global_position, transaction_id])."""
    await store.append("model_run-é", [NewEvent("E", {"b": 1, "aa": [1.5, "x"]}, {"zz": "ü"})])
    await store.append("model_run-é", [NewEvent("F", {})])
    await sql.execute("SET TimeZone = 'America/St_Johns'; SET extra_float_digits = 0")
    rows = await sql.fetch(
        "SELECT *, transaction_id::text AS tx FROM events ORDER BY stream_version")

    prev = b""
    for row in rows:
        content = [
            row["stream_id"], row["stream_version"], str(row["event_id"]), row["event_type"],
            json.loads(row["data"]), json.loads(row["metadata"]),
            row["recorded_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            row["global_position"], row["tx"],
        ]
        expected = hashlib.sha256(prev + _jsonb_text(content).encode()).digest()
        assert row["chain_hash"] == expected
        prev = expected
    assert await sql.fetchval(
        "SELECT bool_and(chain_hash = events_chain_hash(prev_hash, e)) FROM events e")
    assert await sql.fetchval(
        "SELECT bool_and(chain_hash = labelbox_calls_chain_hash(prev_hash, c)) "
        "FROM labelbox_calls c") is None  # no rows: nothing to disagree


async def test_concurrent_audit_rows_of_one_run_form_one_chain(
    pool: asyncpg.Pool, sql: asyncpg.Connection, database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await asyncio.gather(*(record_calls(pool, "race", 5) for _ in range(8)))

    seqs = await sql.fetch(
        "SELECT chain_seq FROM labelbox_calls WHERE model_run_id = 'race' ORDER BY chain_seq")

    assert [r["chain_seq"] for r in seqs] == list(range(1, 41))
    assert (await run_verify(database_url, capsys))[0] == 0


async def test_a_calls_run_attempt_cannot_disagree_with_its_hashed_delivery_key(
    pool: asyncpg.Pool, sql: asyncpg.Connection,
) -> None:
    audit = PostgresAuditLog(Database(pool), reporter_id="reporter-test")
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    right = CallContext("r", "model_run-r", "status", run_attempt=2,
                        delivery_key="attempt-2/status/TRAINING_MODEL")
    await audit.record(AuditEntry(right, "ModelRun.update_status", {}, call_try=1,
                                  started_at=now, ended_at=now, outcome="ok"))
    with pytest.raises(asyncpg.CheckViolationError):
        await sql.execute(
            "INSERT INTO labelbox_calls (model_run_id, stream_id, delivery_key, action, "
            "sdk_method, call_try, run_attempt, started_at, ended_at, duration_ms, outcome, "
            "reporter_id) VALUES ('r', 'model_run-r', 'attempt-2/status/COMPLETE', 'status', "
            "'ModelRun.update_status', 1, 1, now(), now(), 0, 'ok', 'reporter-test')")
    with pytest.raises(asyncpg.CheckViolationError):  # not even with the triggers off
        await tamper(sql, "UPDATE labelbox_calls SET run_attempt = 1 WHERE model_run_id = 'r'")


async def test_an_event_without_its_predecessor_is_refused(sql: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.ForeignKeyViolationError, match="has no version 2"):
        await sql.execute(
            "INSERT INTO events (stream_id, stream_version, event_id, event_type, data) "
            "VALUES ('s', 3, gen_random_uuid(), 'E', '{}')")


async def test_a_writer_cannot_choose_the_hashes(sql: asyncpg.Connection) -> None:
    await sql.execute(
        "INSERT INTO events (stream_id, stream_version, event_id, event_type, data, "
        "prev_hash, chain_hash) VALUES ('s', 1, gen_random_uuid(), 'E', '{}', '\\x01', '\\x02')")

    assert await sql.fetchval(
        "SELECT prev_hash IS NULL AND chain_hash = events_chain_hash(NULL, e) FROM events e")


async def test_a_hash_a_writer_supplies_is_kept_but_verify_reports_it(
    sql: asyncpg.Connection, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Since 0010 the trigger trusts a hash that arrives with a possible link (the append
    # statement computes its own): a forged one is caught afterwards, by verify.
    await sql.execute(
        "INSERT INTO events (stream_id, stream_version, event_id, event_type, data, "
        "prev_hash, chain_hash) VALUES ('s', 1, gen_random_uuid(), 'E', '{}', NULL, '\\x02')")

    code, out = await run_verify(database_url, capsys)

    assert code != 0, out
    assert "s" in [stream for stream, _, _ in findings(await verify_json(database_url, capsys),
                                                        "events")]


async def test_an_anchor_catches_what_the_chains_alone_cannot(
    log: None, sql: asyncpg.Connection, database_url: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, anchor = await run_verify(database_url, capsys, "--print-anchor")
    assert code == 0
    document = json.loads(anchor)
    assert document["events"]["model_run-a"]["position"] == 3
    assert set(document["labelbox_calls"]) == {"a", "b"}
    path = tmp_path / "anchor.json"
    path.write_text(anchor)
    # Removing a stream's last event and a whole model run's calls leaves no gap behind.
    await tamper(sql, "DELETE FROM events WHERE stream_id = 'model_run-a' AND stream_version = 3")
    await tamper(sql, "DELETE FROM labelbox_calls WHERE model_run_id = 'b'")

    unanchored, _ = await run_verify(database_url, capsys)
    anchored, out = await run_verify(database_url, capsys, "--anchor", str(path))

    assert unanchored == 0  # the documented limit
    assert anchored == 1
    assert "anchor: 4 anchored heads checked: 2 problem(s)" in out
    assert "ANCHOR       events stream 'model_run-a'" in out
    assert "ANCHOR       labelbox_calls model run 'b'" in out
    assert "anchored stream_version 3 is gone (removed)" in out


async def test_no_anchor_is_printed_for_a_broken_log(
    log: None, sql: asyncpg.Connection, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await tamper(sql, "UPDATE labelbox_calls SET error = 'x' WHERE model_run_id = 'a'")

    code = await asyncio.to_thread(
        main, ["verify", "--print-anchor"], {"TRAINBRIDGE_DATABASE_URL": database_url})

    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert "TAMPERED: 3 problem(s)" in captured.err


@pytest.fixture
async def database_at_0005(services: ServiceEndpoints) -> AsyncIterator[str]:
    name = f"tb_chain_{uuid.uuid4().hex[:12]}"
    url = with_database(services.database_url, name)
    await asyncio.to_thread(upgrade, url, "0005")
    try:
        yield url
    finally:
        admin = await asyncpg.connect(asyncpg_dsn(services.database_url))
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_the_migration_chains_the_rows_already_there(
    database_at_0005: str, capsys: pytest.CaptureFixture[str]
) -> None:
    pool = await create_pool(DatabaseSettings(url=database_at_0005))
    try:
        store = PostgresEventStore(pool)
        await append_before_0010(pool, "model_run-old", [{"n": n} for n in range(3)])
        await append_before_0010(pool, "model_run-older", [{}])
        await record_calls_before_0009(pool, "old", 4)
        await asyncio.to_thread(upgrade, database_at_0005)
        await store.append("model_run-old", [NewEvent("E", {"n": 3})])
        await record_calls(pool, "old", 1)
        run_attempts = [r["run_attempt"] for r in await pool.fetch(
            "SELECT run_attempt FROM labelbox_calls ORDER BY call_id")]
    finally:
        await pool.close()

    code, out = await run_verify(database_at_0005, capsys)

    assert code == 0, out
    assert "events: 5 rows in 2 streams checked: intact" in out
    assert "labelbox_calls: 5 rows in 1 model run checked: intact" in out
    assert run_attempts == [1, 2, 1, 2, 1]  # the old rows' from their delivery keys


@pytest.fixture
async def database_at_0009(services: ServiceEndpoints) -> AsyncIterator[str]:
    name = f"tb_chain_{uuid.uuid4().hex[:12]}"
    url = with_database(services.database_url, name)
    await asyncio.to_thread(upgrade, url, "0009")
    try:
        yield url
    finally:
        admin = await asyncpg.connect(asyncpg_dsn(services.database_url))
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_rows_chained_by_the_trigger_and_by_the_append_statement_form_one_chain(
    database_at_0009: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before 0010 the trigger hashed every event; since, the append statement hashes the
    first event of an append and the trigger the others: one chain, whoever hashed a row."""
    pool = await create_pool(DatabaseSettings(url=database_at_0009))
    try:
        await append_before_0010(pool, "model_run-up", [{"n": 0}, {"n": 1}])
        await asyncio.to_thread(upgrade, database_at_0009)
        store = PostgresEventStore(pool)
        await store.append("model_run-up", [NewEvent("E", {"n": 2})])
        await store.append("model_run-up", [NewEvent("E", {"n": n}) for n in (3, 4)])
        await append_before_0010(pool, "model_run-up", [{"n": 5}])  # a writer's own insert
        rows = await pool.fetch(
            "SELECT stream_version, prev_hash, chain_hash FROM events "
            "WHERE stream_id = 'model_run-up' ORDER BY stream_version")
    finally:
        await pool.close()

    code, out = await run_verify(database_at_0009, capsys)

    assert [r["stream_version"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r["prev_hash"] for r in rows[1:]] == [r["chain_hash"] for r in rows[:-1]]
    assert code == 0, out
    assert "events: 6 rows in 1 stream checked: intact" in out


async def test_a_concurrent_append_to_one_stream_never_links_to_a_replaced_head(
    store: PostgresEventStore, sql: asyncpg.Connection, database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def writer(w: int) -> None:
        for n in range(5):
            await store.append("model_run-race", [NewEvent("E", {"w": w, "n": n})])

    await asyncio.gather(*(writer(w) for w in range(8)))

    versions = await sql.fetch(
        "SELECT stream_version FROM events WHERE stream_id = 'model_run-race' "
        "ORDER BY stream_version")

    assert [r["stream_version"] for r in versions] == list(range(1, 41))
    assert (await run_verify(database_url, capsys))[0] == 0


async def test_migration_0010_downgrades_and_upgrades_again_with_the_chain_intact(
    database_at_0009: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await asyncio.to_thread(upgrade, database_at_0009)
    config = alembic_config(database_at_0009)
    pool = await create_pool(DatabaseSettings(url=database_at_0009))
    try:
        store = PostgresEventStore(pool)
        await store.append("model_run-d", [NewEvent("E", {"n": 0})])
        await asyncio.to_thread(command.downgrade, config, "0009")
        await pool.expire_connections()
        await append_before_0010(pool, "model_run-d", [{"n": 1}])  # the 0006 trigger's
        await asyncio.to_thread(upgrade, database_at_0009)
        await pool.expire_connections()
        await store.append("model_run-d", [NewEvent("E", {"n": 2})])
    finally:
        await pool.close()

    code, out = await run_verify(database_at_0009, capsys)

    assert code == 0, out
    assert "events: 3 rows in 1 stream checked: intact" in out
