"""The audit queries in docs/operations.md answer "what did we send to Labelbox for run X and
what did it answer" against a run the reporter really delivered (with a retried call and a
parked one)."""

from __future__ import annotations

import asyncpg

from tests.integration.test_documented_sql import documented_queries
from tests.reporter import events as ev
from tests.reporter.conftest import Reporter, sample_rows
from tests.reporter.test_reporting import full_run

RUN = "run-1"


async def test_the_documented_audit_queries_find_what_was_sent_and_answered(
    reporter: Reporter, sql: asyncpg.Connection,
) -> None:
    control = reporter.fake.control
    control.add_model_run(RUN, data_rows=sample_rows(RUN, 8))
    control.set_import_behaviour(RUN, failing_data_rows=["sample-dr-0003"])
    control.add_fault("setPipelineStatusPyApi", model_run_id=RUN, status=503, times=1)
    await full_run(reporter, RUN)
    control.add_model_run("run-parked", data_rows=sample_rows("run-parked", 8))
    control.add_fault("*", model_run_id="run-parked", graphql_error="AUTHORIZATION_ERROR")
    await reporter.request_training("run-parked")
    await reporter.reconcile("run-parked")
    control.add_model_run("run-failed", data_rows=sample_rows("run-failed", 8))
    await reporter.request_training("run-failed")
    await reporter.reconcile("run-failed")
    await reporter.append("run-failed", ev.stage("run-failed", "PREPARING_DATA"),
                          ev.failed("run-failed", "out of memory", stage_name="PREPARING_DATA"))
    await reporter.reconcile("run-failed")

    answers = {}
    for query in documented_queries():
        rows = await sql.fetch(query.replace("<modelRunId>", RUN))
        answers[query.splitlines()[0]] = rows

    calls = answers["-- every Labelbox call made for one run, every try, with what was sent "
                    "and answered"]
    assert [(c["sdk_method"], c["run_attempt"], c["call_try"], c["outcome"])
            for c in calls[:2]] == [("ModelRun.update_status", 1, 1, "retryable_error"),
                                    ("ModelRun.update_status", 1, 2, "ok")]
    assert any(c["import_id"] for c in calls) and any(c["export_task_id"] for c in calls)
    statuses = answers["-- the statuses Labelbox was shown for one run, in order, with their "
                       "metadata"]
    assert statuses[0]["status"] == "EXPORTING_DATA" and statuses[-1]["status"] == "COMPLETE"
    [imported] = answers["-- each predictions import: Labelbox's id, state, lines sent and "
                         "rows Labelbox refused"]
    assert (imported["state"], imported["lines"], imported["failed_rows"]) == ("FINISHED", 16, 2)
    [waiting] = answers["-- deliveries waiting for an operator (retry them with `trainbridge "
                        "redrive`)"]
    assert (waiting["model_run_id"], waiting["state"]) == ("run-parked", "parked")
    by_outcome = answers["-- Labelbox calls in the last day by method and outcome: retries, "
                         "rate limits, permanent errors"]
    assert {r["outcome"] for r in by_outcome} == {"ok", "retryable_error", "permanent_error"}

    # the audit views (migration 0005)
    runs = answers["-- every model run's current state, newest first (add WHERE status / "
                   "model_type / requested_at)"]
    assert [(r["model_run_id"], r["status"], r["labelbox_status"], r["parked_deliveries"])
            for r in runs] == [("run-failed", "FAILED", "FAILED", 0),
                               ("run-parked", "IN_PROGRESS", None, 1),
                               (RUN, "COMPLETE", "COMPLETE", 0)]
    assert runs[2]["duration_seconds"] > 0 and runs[2]["last_error"] is None
    [failed] = answers["-- the runs that failed in the last day, with the stage and the message "
                       "they failed with"]
    assert (failed["model_run_id"], failed["failed_stage"], failed["last_error"]) == (
        "run-failed", "PREPARING_DATA", "out of memory")
    timeline = answers["-- one run's events and Labelbox calls, interleaved in time order"]
    assert [t["at"] for t in timeline] == sorted(t["at"] for t in timeline)
    assert len([t for t in timeline if t["source"] == "labelbox"]) == len(calls)
    assert len([t for t in timeline if t["source"] == "event"]) == 10
    assert timeline[0]["kind"] == "TrainingRequested"
    assert (timeline[-1]["kind"], timeline[-1]["outcome"]) == ("ModelRun.update_status", "ok")
    problems = answers["-- failed Labelbox calls and deliveries waiting for an operator, "
                       "newest first"]
    assert {(p["model_run_id"], p["source"], p["problem"]) for p in problems} == {
        (RUN, "call", "retryable_error"), ("run-parked", "call", "permanent_error"),
        ("run-parked", "delivery", "parked")}
    [stats] = answers["-- per model type: runs, outcomes, success rate, median and p90 seconds "
                      "to COMPLETE"]
    assert (stats["model_type"], stats["runs"], stats["completed"], stats["failed"],
            stats["in_progress"], float(stats["success_rate"])) == (
        "text_single_classification", 3, 1, 1, 1, 0.5)
    assert stats["median_seconds"] == stats["p90_seconds"] == runs[2]["duration_seconds"]
    [today] = answers["-- the same for the last day only, from model_runs"]
    assert (today["runs"], today["failed"]) == (3, 1)
