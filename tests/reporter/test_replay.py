"""`trainbridge replay`: the reporter's ledger rebuilt from history alone matches what the
reporter recorded, and reconciling afterwards sends nothing more to Labelbox."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import pytest

from tests.reporter.conftest import Reporter, sample_rows
from tests.reporter.test_reporting import full_run
from trainbridge.cli import main

RUNS = ("run-ok", "run-rows", "run-failed-import", "run-failed-export", "run-parked")


async def ledger(sql: asyncpg.Connection) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    rows = await sql.fetch("SELECT stream_id, delivery_key, state, result::text AS result, "
                           "calls FROM reporter_deliveries")
    return {(r["stream_id"], r["delivery_key"]): (r["state"], {**json.loads(r["result"]),
                                                               "_calls": r["calls"]})
            for r in rows}


async def test_replay_rebuilds_the_ledger_from_history_without_calling_labelbox(
    reporter: Reporter, sql: asyncpg.Connection, database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    control = reporter.fake.control
    for run in RUNS:
        control.add_model_run(run, data_rows=sample_rows(run, 8))
    control.set_import_behaviour("run-rows", failing_data_rows=["sample-dr-0002"])
    control.set_import_behaviour("run-failed-import", outcome="FAILED")
    control.set_export_behaviour("run-failed-export", fail=True)
    control.add_fault("*", model_run_id="run-parked", graphql_error="AUTHORIZATION_ERROR")
    control.add_fault("setPipelineStatusPyApi", model_run_id="run-ok", status=503, times=2)
    await asyncio.gather(*(full_run(reporter, run) for run in RUNS[:3]))
    for run in RUNS[3:]:
        await reporter.request_training(run)
        await reporter.reconcile(run)
    recorded = await ledger(sql)
    requests = len(control.requests())

    environ = {"TRAINBRIDGE_DATABASE_URL": database_url}
    assert await asyncio.to_thread(main, ["replay", "--json"], environ) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["before"] == len(recorded)
    rebuilt = await ledger(sql)

    assert rebuilt.keys() == recorded.keys()
    for key, (state, result) in recorded.items():
        assert rebuilt[key][0] == state, key
        for field in ("status", "importId", "state", "rows", "failedRows", "uri", "sha256",
                      "_calls"):
            assert rebuilt[key][1].get(field) == result.get(field), (key, field)
    # every run reconciled again: not one more request reaches Labelbox
    await asyncio.gather(*(reporter.reconcile(run) for run in RUNS))
    assert len(control.requests()) == requests


async def test_a_dry_run_changes_nothing(
    reporter: Reporter, sql: asyncpg.Connection, database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    reporter.fake.control.add_model_run("run-ok", data_rows=sample_rows("run-ok", 8))
    await full_run(reporter, "run-ok")
    before = await ledger(sql)
    await sql.execute("UPDATE reporter_deliveries SET result = '{}'::jsonb")
    environ = {"TRAINBRIDGE_DATABASE_URL": database_url}
    assert await asyncio.to_thread(main, ["replay", "--dry-run"], environ) == 0
    assert "would rebuild the reporter's ledger from history" in capsys.readouterr().out
    assert await sql.fetchval("SELECT bool_and(result = '{}'::jsonb) FROM reporter_deliveries")
    assert (await ledger(sql)).keys() == before.keys()
