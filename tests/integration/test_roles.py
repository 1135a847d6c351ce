"""Least privilege: each service's PostgreSQL role can do its own work and nothing more; no
service role can rewrite history (events, the Labelbox audit log)."""

from __future__ import annotations

import asyncpg
import pytest

SERVICES = ("trainbridge_ingest", "trainbridge_trainer", "trainbridge_reporter",
            "trainbridge_operator")

HISTORY_REWRITES = [
    "UPDATE events SET data = '{}'::jsonb",
    "DELETE FROM events",
    "TRUNCATE events",
    "UPDATE labelbox_calls SET outcome = 'ok'",
    "DELETE FROM labelbox_calls",
    "TRUNCATE labelbox_calls",
    "UPDATE outbox SET stream_id = 'x'",
    "DELETE FROM outbox",
]


async def as_role(sql: asyncpg.Connection, role: str, statement: str) -> None:
    async with sql.transaction():
        await sql.execute(f"SET LOCAL ROLE {role}")
        await sql.execute(statement)


@pytest.mark.parametrize("role", SERVICES)
@pytest.mark.parametrize("statement", HISTORY_REWRITES)
async def test_no_service_role_can_rewrite_history(
    sql: asyncpg.Connection, role: str, statement: str,
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        await as_role(sql, role, statement)


@pytest.mark.parametrize("statement", [
    "SELECT * FROM labelbox_calls",
    "SELECT * FROM reporter_deliveries",
    "UPDATE model_types SET description = 'x'",
    "UPDATE training_jobs SET status = 'done'",
    "INSERT INTO labelbox_calls (model_run_id, stream_id, action, sdk_method, call_try, "
    "run_attempt, started_at, ended_at, duration_ms, outcome, reporter_id) VALUES "
    "('r', 's', 'a', 'm', 1, 1, now(), now(), 0, 'ok', 'x')",
    "INSERT INTO inbox (consumer, message_id, event_type) VALUES ('c', 'm', 't')",
])
async def test_ingest_cannot_read_the_audit_log_or_update_anything(
    sql: asyncpg.Connection, statement: str,
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await as_role(sql, "trainbridge_ingest", statement)


async def test_only_the_reporter_writes_the_audit_log(sql: asyncpg.Connection) -> None:
    insert = ("INSERT INTO labelbox_calls (model_run_id, stream_id, action, sdk_method, "
              "call_try, run_attempt, started_at, ended_at, duration_ms, outcome, "
              "reporter_id) VALUES ('r', 's', 'a', 'm', 1, 1, now(), now(), 0, 'ok', 'x')")
    await as_role(sql, "trainbridge_reporter", insert)
    for role in ("trainbridge_ingest", "trainbridge_trainer", "trainbridge_operator"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await as_role(sql, role, insert)


async def test_migrate_lets_a_service_role_log_in_with_its_password(
    database_url: str,
) -> None:
    import asyncio

    from trainbridge.cli import main

    code = await asyncio.to_thread(main, ["migrate"], {
        "TRAINBRIDGE_DATABASE_URL": database_url,
        "TRAINBRIDGE_INGEST_DATABASE_PASSWORD": "s3cret'quote"})
    assert code == 0
    admin = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        row = await admin.fetchrow("SELECT rolcanlogin, rolpassword IS NOT NULL AS has_password "
                                   "FROM pg_authid WHERE rolname = 'trainbridge_ingest'")
    finally:
        await admin.close()
    assert (row["rolcanlogin"], row["has_password"]) == (True, True)


@pytest.mark.parametrize("statement", [
    "SELECT * FROM model_runs",
    "SELECT * FROM run_timeline WHERE model_run_id = 'r'",
    "SELECT * FROM labelbox_delivery_problems",
    "SELECT * FROM model_type_stats",
    "SELECT * FROM labelbox_calls",
    "UPDATE reporter_deliveries SET state = 'redrive_requested', redrives = redrives + 1, "
    "updated_at = now() WHERE state = 'parked'",
])
async def test_the_operator_role_reads_every_view_and_may_request_redrives(
    sql: asyncpg.Connection, statement: str,
) -> None:
    await as_role(sql, "trainbridge_operator", statement)
