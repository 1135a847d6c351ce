"""``trainbridge runs``, ``audit`` and ``parked`` against runs the reporter really delivered
to the fake Labelbox through the SDK: a complete one (with a retried call), a failed one and
one parked on a permanent error. Each command runs through ``trainbridge.cli.main`` (in a
thread: it runs its own event loop)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.reporter import events as ev
from tests.reporter.conftest import Reporter, sample_rows
from tests.reporter.test_reporting import full_run
from trainbridge.cli import main

MESSAGE = "training ran out of memory at 12 GiB"


@pytest.fixture
async def runs(reporter: Reporter) -> Reporter:
    control = reporter.fake.control
    control.add_model_run("run-ok", data_rows=sample_rows("run-ok", 8))
    control.add_fault("setPipelineStatusPyApi", model_run_id="run-ok", status=503, times=1)
    await full_run(reporter, "run-ok")
    control.add_model_run("run-failed", data_rows=sample_rows("run-failed", 8))
    await reporter.request_training("run-failed")
    await reporter.reconcile("run-failed")
    await reporter.append("run-failed", ev.stage("run-failed", "PREPARING_DATA"),
                          ev.stage("run-failed", "TRAINING_MODEL"),
                          ev.failed("run-failed", MESSAGE))
    await reporter.reconcile("run-failed")
    control.add_model_run("run-parked", data_rows=sample_rows("run-parked", 8))
    control.add_fault("*", model_run_id="run-parked", graphql_error="AUTHORIZATION_ERROR")
    await reporter.request_training("run-parked")
    await reporter.reconcile("run-parked")
    return reporter


def cli(database_url: str, capsys: pytest.CaptureFixture[str], *argv: str
        ) -> tuple[int, str, str]:
    capsys.readouterr()
    with ThreadPoolExecutor(max_workers=1) as executor:
        code = executor.submit(
            main, list(argv), {"TRAINBRIDGE_DATABASE_URL": database_url}).result()
    out, err = capsys.readouterr()
    return code, out, err


def lines_of(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines() if line.strip()]


async def test_runs_lists_every_run_newest_first_with_its_status(
    runs: Reporter, database_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = cli(database_url, capsys, "runs")

    assert code == 0
    header, *rows = out.splitlines()
    assert header.split()[:4] == ["MODEL", "RUN", "MODEL", "TYPE"]
    assert [r.split()[0] for r in rows] == ["run-parked", "run-failed", "run-ok"]
    parked, failed, ok = (r.split() for r in rows)
    assert ok[1:6] == ["text_single_classification", "1", "COMPLETE", "COMPLETE", "PREDICTING"]
    assert failed[3:6] == ["FAILED", "FAILED", "TRAINING_MODEL"]
    assert MESSAGE in rows[1]
    assert parked[3:6] == ["IN_PROGRESS", "-", "-"] and parked[-1] == "1"  # one parked

    code, out, _ = cli(database_url, capsys, "runs", "--json")
    assert code == 0
    listed = {r["model_run_id"]: r for r in json.loads(out)}
    assert list(listed) == ["run-parked", "run-failed", "run-ok"]
    done = listed["run-ok"]
    assert (done["status"], done["labelbox_status"], done["latest_attempt"],
            done["parked_deliveries"], done["last_error"]) == ("COMPLETE", "COMPLETE", 1, 0, None)
    assert done["duration_seconds"] >= 0 and done["finished_at"] >= done["started_at"]
    assert (listed["run-failed"]["last_error"], listed["run-failed"]["failed_stage"]) == (
        MESSAGE, "TRAINING_MODEL")
    assert listed["run-parked"]["duration_seconds"] is None


async def test_runs_filters_by_status_model_type_time_and_limit(
    runs: Reporter, database_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    def ids(*argv: str) -> list[str]:
        code, out, _ = cli(database_url, capsys, "runs", "--json", *argv)
        assert code == 0
        return [r["model_run_id"] for r in json.loads(out)]

    assert ids("--status", "failed") == ["run-failed"]
    assert ids("--status", "IN_PROGRESS") == ["run-parked"]
    assert ids("--status", "complete", "--model-type", "text_single_classification") == [
        "run-ok"]
    assert ids("--model-type", "image_single_classification") == []
    assert ids("--limit", "2") == ["run-parked", "run-failed"]
    assert ids("--since", "1h") == ["run-parked", "run-failed", "run-ok"]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert ids("--since", tomorrow) == []

    code, out, _ = cli(database_url, capsys, "runs", "--status", "failed", "--model-type", "x")
    assert (code, out) == (0, "no model runs match\n")
    code, _, err = cli(database_url, capsys, "runs", "--status", "lost")
    assert code == 1 and "one of complete, failed, in_progress" in err
    code, _, err = cli(database_url, capsys, "runs", "--since", "yesterday")
    assert code == 1 and "ISO 8601" in err


async def test_audit_interleaves_events_and_labelbox_calls_in_time_order(
    runs: Reporter, database_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = cli(database_url, capsys, "audit", "run-ok", "--json")

    assert code == 0
    answer: dict[str, Any] = json.loads(out)
    assert (answer["run"]["model_run_id"], answer["run"]["status"]) == ("run-ok", "COMPLETE")
    timeline = answer["timeline"]
    assert [t["at"] for t in timeline] == sorted(t["at"] for t in timeline)
    events = [t["kind"] for t in timeline if t["source"] == "event"]
    assert events == ["TrainingRequested", "DataExportRequested", "DataExported",
                      "StageStarted", "StageStarted", "StageStarted", "ModelEvaluated",
                      "StageStarted", "PredictionsProduced", "TrainingCompleted"]
    calls = [t for t in timeline if t["source"] == "labelbox"]
    assert len(calls) == len(await runs.audit("run-ok"))
    first, second = calls[:2]
    assert (first["kind"], first["outcome"], first["detail"]["try"]) == (
        "ModelRun.update_status", "retryable_error", 1)
    assert (second["outcome"], second["detail"]["try"]) == ("ok", 2)
    assert first["detail"]["request"]["status"] == "EXPORTING_DATA"
    assert calls[-1]["detail"]["request"]["status"] == "COMPLETE"
    assert {t["attempt"] for t in timeline} == {1}
    # the reporter's first call follows the event that caused it; COMPLETE follows the import
    kinds = [t["kind"] for t in timeline]
    assert kinds.index("DataExportRequested") < kinds.index("ModelRun.update_status")
    assert kinds.index("TrainingCompleted") < len(kinds) - 1

    code, out, _ = cli(database_url, capsys, "audit", "run-ok")
    assert code == 0
    head, table = out.split("\n\n", 1)
    assert head.startswith("model run run-ok (text_single_classification): COMPLETE, "
                           "attempt 1, Labelbox shows COMPLETE")
    rows = table.splitlines()[1:]
    assert len(rows) == len(timeline)
    assert "retryable_error" in rows[2] and "InternalServerError" in rows[2]
    assert rows[-1].split()[2:6] == ["labelbox", "ModelRun.update_status", "1", "ok"]
    assert "complete COMPLETE" in rows[-1]


async def test_audit_of_a_failed_run_shows_why_and_what_labelbox_was_told(
    runs: Reporter, database_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = cli(database_url, capsys, "audit", "run-failed")

    assert code == 0
    assert f"last error: {MESSAGE}" in out
    failure = next(line for line in out.splitlines() if "TrainingFailed" in line)
    assert f"TRAINING_MODEL: {MESSAGE}" in failure
    assert out.rstrip().splitlines()[-1].split()[2:6] == [
        "labelbox", "ModelRun.update_status", "1", "ok"]
    assert "FAILED" in out.rstrip().splitlines()[-1]


async def test_audit_of_an_unknown_model_run_says_so_and_exits_1(
    runs: Reporter, database_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    for argv in (("audit", "no-such-run"), ("audit", "no-such-run", "--json")):
        code, out, err = cli(database_url, capsys, *argv)
        assert (code, out) == (1, "")
        assert "trainbridge audit: no model run 'no-such-run' in the event log" in err


async def test_parked_shows_deliveries_waiting_for_an_operator_with_their_errors(
    runs: Reporter, database_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = cli(database_url, capsys, "parked")

    assert code == 0
    header, row, *rest = out.splitlines()
    assert header.split()[:3] == ["MODEL", "RUN", "DELIVERY"]
    assert row.split()[:3] == ["run-parked", "attempt-1/status/EXPORTING_DATA", "parked"]
    assert "AuthorizationError" in row and "ModelRun.update_status" in row
    assert "trainbridge redrive" in rest[-1]

    code, out, _ = cli(database_url, capsys, "parked", "--json")
    [parked] = json.loads(out)
    assert (parked["model_run_id"], parked["state"], parked["action"], parked["redrives"],
            parked["sdk_method"], parked["error_type"]) == (
        "run-parked", "parked", "status", 0, "ModelRun.update_status", "AuthorizationError")
    assert "permanent error" in parked["error"]

    await runs.ledger.request_redrive("run-parked")
    code, out, _ = cli(database_url, capsys, "parked", "--json")
    assert [p["state"] for p in json.loads(out)] == ["redrive_requested"]
    await runs.reconcile("run-parked")  # the fault is still there: parked again
    code, out, _ = cli(database_url, capsys, "parked", "--json")
    assert [(p["state"], p["redrives"]) for p in json.loads(out)] == [("parked", 1)]


async def test_parked_says_when_nothing_waits(
    reporter: Reporter, database_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli(database_url, capsys, "parked") == (
        0, "no deliveries are waiting for an operator\n", "")
    assert cli(database_url, capsys, "parked", "--json") == (0, "[]\n", "")
    assert cli(database_url, capsys, "runs", "--json") == (0, "[]\n", "")
