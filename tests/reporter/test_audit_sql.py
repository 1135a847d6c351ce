"""The README's audit queries answer "what did we send to Labelbox for run X and what did it
answer" against a run the reporter really delivered (with a retried call and a parked one)."""

from __future__ import annotations

import asyncpg

from tests.integration.test_readme_sql import readme_queries
from tests.reporter.conftest import Reporter, sample_rows
from tests.reporter.test_reporting import full_run

RUN = "run-1"


async def test_the_readme_audit_queries_find_what_was_sent_and_answered(
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

    answers = {}
    for query in readme_queries():
        rows = await sql.fetch(query.replace("<modelRunId>", RUN))
        answers[query.splitlines()[0]] = rows

    calls = answers["-- every Labelbox call made for one run, every attempt, with what was "
                    "sent and answered"]
    assert [(c["sdk_method"], c["attempt"], c["outcome"]) for c in calls[:2]] == [
        ("ModelRun.update_status", 1, "retryable_error"), ("ModelRun.update_status", 2, "ok")]
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
