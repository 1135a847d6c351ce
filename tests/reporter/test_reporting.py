"""The reporter against PostgreSQL and the fake Labelbox, through the real SDK: what
Labelbox shows for a run, and that repeating, reordering or crashing changes nothing."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Collection

from eventlog.postgres import create_pool
from eventlog.settings import DatabaseSettings
from fake_labelbox.control import FakeLabelboxControl
from services.reporter.plan import STATUS_RANK
from services.reporter.reconciler import ACKNOWLEDGEMENTS_FIRST_SECONDS
from tests.reporter import events as ev
from tests.reporter.conftest import Reporter, reporter_on, sample_rows

RUN = "run-1"
HANGABLE = ("setPipelineStatusPyApi", "exportDataRowsInModelRunPyApi",
            "createMEAPredictionImportByFilePyApi", "getModelErrorAnalysisPredictionImportPyApi")
"""GraphQL calls given a hang fault (the SDK's export file download has its own 30 s
timeout, which would only make the test slow)."""


def imports_created(control: FakeLabelboxControl, run: str,
                    after_effect_faults: Collection[str] = ()) -> int:
    """Create requests that took effect at Labelbox: answered without an error, or failed
    only after the import was made (by one of ``after_effect_faults``)."""
    return sum(1 for r in control.requests("createMEAPredictionImportByFilePyApi", run)
               if (r["fault_id"] is None and r["graphql_error"] is None)
               or r["fault_id"] in after_effect_faults)


def collapsed(statuses: list[str]) -> list[str]:
    """The status sequence with repeats (metadata updates) folded."""
    return [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s]


async def full_run(reporter: Reporter, run: str) -> None:
    await reporter.request_training(run)
    await reporter.reconcile(run)
    await reporter.train(run)
    await reporter.reconcile(run)


async def test_a_full_stream_reaches_complete_with_metadata_and_one_finished_import(
    reporter: Reporter,
) -> None:
    control = reporter.fake.control
    control.add_model_run(RUN, data_rows=sample_rows(RUN, 12))
    await reporter.request_training(RUN)
    await reporter.reconcile(RUN)
    assert control.statuses(RUN) == ["EXPORTING_DATA"]
    stream = await reporter.store.read_stream(f"model_run-{RUN}")
    exported = stream[-1]
    assert exported.event_type == "DataExported"
    assert (exported.data["rows"], exported.data["labels"]) == (12, 12)
    assert sum(exported.data["splits"].values()) == 12
    assert len(await reporter.exported_rows(RUN)) == 12

    await reporter.train(RUN)
    await reporter.reconcile(RUN)
    assert collapsed(control.statuses(RUN)) == ["EXPORTING_DATA", "PREPARING_DATA",
                                                "TRAINING_MODEL", "COMPLETE"]
    metadata = control.metadata(RUN)
    assert metadata["model_weights"] == (f"kept on the trainer's host under model run {RUN}, "
                                         f"attempt 1 (no link: artifacts are stored locally)")
    assert metadata["accuracy"] == "0.9375"
    assert metadata["predictions_import_state"] == "FINISHED"
    assert metadata["predictions_row_errors"] == "0"
    assert all(isinstance(v, str) for v in metadata.values())
    [created] = control.imports(RUN)
    assert (created["state"], created["lines_count"]) == ("FINISHED", 24)
    assert imports_created(control, RUN) == 1
    # COMPLETE only after the import finished
    operations = control.operations(RUN)
    assert operations.index("createMEAPredictionImportByFilePyApi") < len(operations) - 1
    assert operations[-1] == "setPipelineStatusPyApi"

    audit = await reporter.audit(RUN)
    assert audit and all(row["outcome"] == "ok" for row in audit)
    assert {row["sdk_method"] for row in audit} >= {
        "ModelRun.update_status", "ModelRun.export", "ExportTask.get_task",
        "ExportTask.get_buffered_stream", "MEAPredictionImport.from_name",
        "ModelRun.add_predictions", "MEAPredictionImport.statuses"}
    assert all(row["correlation_id"] == f"corr-{RUN}" for row in audit)
    assert all(row["cause_event_id"] is not None for row in audit)
    assert {row["import_id"] for row in audit if row["sdk_method"] ==
            "ModelRun.add_predictions"} == {created["id"]}
    assert "Bearer" not in str([dict(r) for r in audit])


async def test_acknowledging_sends_the_first_status_only_and_leaves_a_run_held_elsewhere(
    reporter: Reporter,
) -> None:
    control = reporter.fake.control
    control.add_model_run(RUN, data_rows=sample_rows(RUN, 12))
    stream = f"model_run-{RUN}"
    await reporter.request_training(RUN)  # TrainingRequested and DataExportRequested
    async with reporter.ledger.run_lock(stream):  # another reconciler holds the run
        await reporter.reconciler.acknowledge(stream)
    assert control.statuses(RUN) == []

    await reporter.reconciler.acknowledge(stream)
    assert control.statuses(RUN) == ["EXPORTING_DATA"]
    assert control.operations(RUN) == ["setPipelineStatusPyApi"]  # the export waits
    await reporter.reconciler.acknowledge(stream)
    assert control.operations(RUN) == ["setPipelineStatusPyApi"]

    await reporter.reconcile(RUN)
    assert control.statuses(RUN) == ["EXPORTING_DATA"]
    assert (await reporter.store.read_stream(stream))[-1].event_type == "DataExported"


async def call_times(reporter: Reporter, run: str, sdk_method: str) -> tuple[float, float]:
    row = await reporter.pool.fetchrow(
        "SELECT min(started_at) AS started, max(ended_at) AS ended FROM labelbox_calls "
        "WHERE model_run_id = $1 AND sdk_method = $2", run, sdk_method)
    return row["started"].timestamp(), row["ended"].timestamp()


async def older_run_and_new_acknowledgement(
    reporter: Reporter, acknowledgement_seconds: float,
) -> tuple[float, tuple[float, float], tuple[float, float]]:
    """run-old waits for its export; run-new's acknowledgement takes ``acknowledgement_seconds``
    at Labelbox. Returns when run-old's reconcile began, and the (start, end) of run-new's
    acknowledgement and of run-old's export call."""
    control = reporter.fake.control
    for run in ("run-old", "run-new"):
        control.add_model_run(run, data_rows=sample_rows(run, 6))
    await reporter.request_training("run-old")
    await reporter.reconciler.acknowledge("model_run-run-old")
    control.add_fault("setPipelineStatusPyApi", model_run_id="run-new",
                      latency=acknowledgement_seconds, times=1)
    await reporter.append("run-new", ev.requested("run-new"))
    acknowledging = asyncio.create_task(reporter.reconciler.acknowledge("model_run-run-new"))
    await asyncio.sleep(0.1)  # the acknowledgement is at Labelbox
    began = time.time()
    await reporter.reconcile("run-old")
    await acknowledging
    assert control.statuses("run-new") == ["EXPORTING_DATA"]
    return (began, await call_times(reporter, "run-new", "ModelRun.update_status"),
            await call_times(reporter, "run-old", "ModelRun.export"))


async def test_older_runs_wait_while_a_new_run_is_being_acknowledged(
    reporter: Reporter,
) -> None:
    _, acknowledgement, export = await older_run_and_new_acknowledgement(reporter, 0.5)
    assert export[0] >= acknowledgement[1]


async def test_older_runs_wait_for_acknowledgements_at_most_a_second(
    reporter: Reporter,
) -> None:
    began, acknowledgement, export = await older_run_and_new_acknowledgement(reporter, 2.5)
    assert export[0] < acknowledgement[1]  # not starved
    assert export[0] - began >= ACKNOWLEDGEMENTS_FIRST_SECONDS - 0.05


async def test_the_same_messages_twice_and_shuffled_change_nothing_at_labelbox(
    reporter: Reporter,
) -> None:
    control = reporter.fake.control
    control.add_model_run(RUN, data_rows=sample_rows(RUN, 8))
    await full_run(reporter, RUN)
    statuses, requests = control.statuses(RUN), len(control.requests())

    triggers = [RUN] * 20
    random.Random(7).shuffle(triggers)
    await asyncio.gather(*(reporter.reconcile(run) for run in triggers))
    assert control.statuses(RUN) == statuses
    assert len(control.requests()) == requests
    assert len(control.imports(RUN)) == 1


async def test_wake_ups_racing_on_a_whole_stream_deliver_it_once_in_order(
    reporter: Reporter,
) -> None:
    control = reporter.fake.control
    control.add_model_run(RUN, data_rows=sample_rows(RUN, 8))
    await reporter.request_training(RUN)
    # Every event's message arrives at once, many times over: one delivery each, in order.
    await asyncio.gather(*(reporter.reconcile(RUN) for _ in range(10)))
    await reporter.train(RUN)
    await asyncio.gather(*(reporter.reconcile(RUN) for _ in range(10)))
    assert collapsed(control.statuses(RUN)) == ["EXPORTING_DATA", "PREPARING_DATA",
                                                "TRAINING_MODEL", "COMPLETE"]
    assert control.operations(RUN).count("setPipelineStatusPyApi") == 7
    assert len(control.exports(RUN)) == 1 and len(control.imports(RUN)) == 1


async def test_a_crash_after_creating_an_import_creates_no_second_one(
    reporter: Reporter,
) -> None:
    control = reporter.fake.control
    control.add_model_run(RUN, data_rows=sample_rows(RUN, 8))
    await reporter.request_training(RUN)
    await reporter.reconcile(RUN)
    await reporter.train(RUN)
    # The import is created, but its answer never comes: the reporter dies waiting.
    hang = control.add_fault("createMEAPredictionImportByFilePyApi", hang=True,
                             after_effect=True, times=1)
    crashed = asyncio.create_task(reporter.reconcile(RUN))
    for _ in range(200):
        if control.imports(RUN):
            break
        await asyncio.sleep(0.02)
    crashed.cancel()
    await asyncio.gather(crashed, return_exceptions=True)
    assert len(control.imports(RUN)) == 1
    assert not [r for r in await reporter.ledger_rows(RUN) if "predictions" in r["delivery_key"]]

    await reporter.reconcile(RUN)  # the restarted reporter
    assert control.statuses(RUN)[-1] == "COMPLETE"
    [only] = control.imports(RUN)
    assert only["state"] == "FINISHED"
    assert imports_created(control, RUN, [hang]) == 1


async def test_a_lost_answer_to_creating_an_import_is_found_instead_of_repeated(
    reporter: Reporter,
) -> None:
    control = reporter.fake.control
    control.add_model_run(RUN, data_rows=sample_rows(RUN, 8))
    lost = control.add_fault("createMEAPredictionImportByFilePyApi", status=503,
                             after_effect=True, times=1)
    await full_run(reporter, RUN)
    assert control.statuses(RUN)[-1] == "COMPLETE"
    assert len(control.imports(RUN)) == 1 and imports_created(control, RUN, [lost]) == 1
    outcomes = [(r["sdk_method"], r["outcome"]) for r in await reporter.audit(RUN)
                if r["action"] == "predictions"]
    assert ("ModelRun.add_predictions", "retryable_error") in outcomes
    assert outcomes.count(("ModelRun.add_predictions", "ok")) == 0


async def test_with_30_percent_of_calls_failing_every_run_still_ends_correctly(
    reporter: Reporter,
) -> None:
    control = reporter.fake.control
    runs = [f"run-{n}" for n in range(6)]
    for run in runs:
        control.add_model_run(run, data_rows=sample_rows(run, 8))
    # ~30 % of the GraphQL calls fail: 503, then 429, then a hang past the client timeout.
    rules = [control.add_fault("*", status=503, probability=0.10),
             control.add_fault("*", status=429, probability=0.111)]
    rules += [control.add_fault(operation, hang=True, probability=0.125)
              for operation in HANGABLE]
    await asyncio.gather(*(full_run(reporter, run) for run in runs))

    injected = sum(f["applied"] for f in control.faults() if f["id"] in rules)
    assert injected >= 15, "the faults were not injected"
    audited_failures = 0
    for run in runs:
        statuses = control.statuses(run)
        assert statuses[-1] == "COMPLETE", (run, statuses)
        ranks = [STATUS_RANK[s] for s in statuses]
        assert ranks == sorted(ranks), (run, statuses)
        assert len(control.imports(run)) == 1 and imports_created(control, run) == 1
        audit = await reporter.audit(run)
        audited_failures += sum(r["outcome"] == "retryable_error" for r in audit)
    # every attempt is in the audit log: each injected fault failed exactly one audited call
    assert audited_failures == injected


async def test_an_authentication_error_parks_the_delivery_without_blocking_other_runs(
    reporter: Reporter,
) -> None:
    control = reporter.fake.control
    for run in ("run-a", "run-b"):
        control.add_model_run(run, data_rows=sample_rows(run, 8))
        await reporter.request_training(run)
    control.add_fault("*", model_run_id="run-a", graphql_error="AUTHENTICATION_ERROR")
    await asyncio.gather(reporter.reconcile("run-a"), reporter.reconcile("run-b"))
    await reporter.train("run-b")
    await asyncio.gather(reporter.reconcile("run-a"), reporter.reconcile("run-b"))

    assert control.statuses("run-b")[-1] == "COMPLETE"
    assert control.statuses("run-a") == []
    [parked] = [r for r in await reporter.ledger_rows("run-a") if r["state"] == "parked"]
    assert parked["delivery_key"] == "attempt-1/status/EXPORTING_DATA"
    assert "AuthenticationError" in parked["error"]
    [call] = await reporter.audit("run-a")  # not retried, and not tried again while parked
    assert (call["outcome"], call["error_type"]) == ("permanent_error", "AuthenticationError")
    assert [p.model_run_id for p in await reporter.ledger.parked()] == ["run-a"]

    # the operator fixes the credentials and redrives: the run catches up, in order
    control.clear_faults()
    assert await reporter.ledger.request_redrive("run-a") == ["model_run-run-a"]
    await reporter.reconcile("run-a")
    await reporter.train("run-a")
    await reporter.reconcile("run-a")
    assert collapsed(control.statuses("run-a")) == ["EXPORTING_DATA", "PREPARING_DATA",
                                                    "TRAINING_MODEL", "COMPLETE"]
    assert await reporter.ledger.parked() == []
    [redriven] = [r for r in await reporter.ledger_rows("run-a")
                  if r["delivery_key"] == "attempt-1/status/EXPORTING_DATA"]
    assert (redriven["state"], redriven["redrives"]) == ("delivered", 1)


async def test_a_failed_export_fails_the_run_with_a_clear_message(reporter: Reporter) -> None:
    control = reporter.fake.control
    control.add_model_run(RUN, data_rows=sample_rows(RUN, 8))
    control.set_export_behaviour(RUN, fail=True)
    await reporter.request_training(RUN)
    await reporter.reconcile(RUN)
    assert control.statuses(RUN) == ["EXPORTING_DATA", "FAILED"]
    failure = control.model_run(RUN)["statuses"][-1]
    assert "could not export" in failure["error_message"]
    stream = await reporter.store.read_stream(f"model_run-{RUN}")
    assert stream[-1].event_type == "TrainingFailed"
    assert stream[-1].data["stage"] == "EXPORTING_DATA"


async def test_a_failed_import_fails_the_run_and_row_errors_only_annotate_it(
    reporter: Reporter,
) -> None:
    control = reporter.fake.control
    for run in ("run-failed", "run-rows"):
        control.add_model_run(run, data_rows=sample_rows(run, 8))
    control.set_import_behaviour("run-failed", outcome="FAILED")
    control.set_import_behaviour("run-rows", failing_data_rows=["sample-dr-0001"])
    await asyncio.gather(full_run(reporter, "run-failed"), full_run(reporter, "run-rows"))

    assert control.statuses("run-failed")[-1] == "FAILED"
    assert "predictions import" in control.model_run("run-failed")["statuses"][-1][
        "error_message"]
    assert control.statuses("run-rows")[-1] == "COMPLETE"
    metadata = control.metadata("run-rows")
    assert metadata["predictions_row_errors"] == "2"  # the answer line and the metric line
    assert "sample-dr-0001" in metadata["predictions_first_row_error"]
    [statuses_call] = [r for r in await reporter.audit("run-rows")
                       if r["sdk_method"] == "MEAPredictionImport.statuses"]
    assert statuses_call["response"]["failedRows"] == 2


async def test_a_new_attempt_after_a_failure_starts_over_at_exporting_data(
    reporter: Reporter,
) -> None:
    control = reporter.fake.control
    control.add_model_run(RUN, data_rows=sample_rows(RUN, 8))
    await reporter.request_training(RUN)
    await reporter.append(RUN, ev.failed(RUN, "first attempt failed"))
    await reporter.reconcile(RUN)
    await reporter.append(RUN, ev.requested(RUN, 2), ev.export_requested(RUN, 2))
    await reporter.reconcile(RUN)
    await reporter.train(RUN, attempt=2)
    await reporter.reconcile(RUN)
    assert collapsed(control.statuses(RUN)) == [
        "EXPORTING_DATA", "FAILED", "EXPORTING_DATA", "PREPARING_DATA", "TRAINING_MODEL",
        "COMPLETE"]


async def test_two_reporter_replicas_racing_on_the_same_runs_deliver_each_once(
    reporter: Reporter, database_settings: DatabaseSettings,
) -> None:
    control = reporter.fake.control
    runs = ["run-a", "run-b", "run-c"]
    for run in runs:
        control.add_model_run(run, data_rows=sample_rows(run, 8))
        await reporter.request_training(run)
    pool = await create_pool(database_settings)
    replica = reporter_on(pool, reporter.settings, reporter.fake, reporter.tmp_path)
    try:
        for _ in range(2):
            await asyncio.gather(*(r.reconcile(run) for run in runs * 3
                                   for r in (reporter, replica)))
            for run in runs:
                if not any(e.event_type == "StageStarted" for e in
                           await reporter.store.read_stream(f"model_run-{run}")):
                    await reporter.train(run)
    finally:
        replica.calls.close()
        await pool.close()
    for run in runs:
        assert collapsed(control.statuses(run)) == ["EXPORTING_DATA", "PREPARING_DATA",
                                                    "TRAINING_MODEL", "COMPLETE"]
        assert control.operations(run).count("setPipelineStatusPyApi") == 7
        assert len(control.exports(run)) == 1 and len(control.imports(run)) == 1


async def test_a_config_labelbox_refuses_is_recorded_and_the_run_still_completes(
    reporter: Reporter,
) -> None:
    control = reporter.fake.control
    control.add_model_run(RUN, data_rows=sample_rows(RUN, 8))
    control.add_fault("updateModelRunConfigPyApi", model_run_id=RUN,
                      graphql_error="AUTHORIZATION_ERROR")

    await full_run(reporter, RUN)

    assert control.statuses(RUN)[-1] == "COMPLETE"
    [config] = [r for r in await reporter.ledger_rows(RUN) if r["action"] == "config"]
    assert config["state"] == "delivered" and "AuthorizationError" in config["result"]["error"]
    assert await reporter.ledger.parked() == []
    refused = [c for c in await reporter.audit(RUN) if c["sdk_method"] == "ModelRun.update_config"]
    assert [c["outcome"] for c in refused] == ["permanent_error"]
