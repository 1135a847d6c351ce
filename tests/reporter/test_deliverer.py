"""The deliverer on in-memory twins (no PostgreSQL, no Labelbox server): each planned
delivery's calls, what it appends to the run's stream, and what it returns for the ledger."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from eventlog.artifacts import write_artifact
from services.reporter.audit import unstorable_part
from services.reporter.events import import_name
from services.reporter.ledger import DELIVERED, PARKED
from services.reporter.plan import Delivery, RunPlan, plan_run
from tests.reporter import events as ev
from tests.reporter.in_memory import InMemoryReporter, in_memory_reporter

RUN = "run-1"


@pytest.fixture
async def reporter(tmp_path: Path) -> AsyncIterator[InMemoryReporter]:
    built = in_memory_reporter(tmp_path)
    yield built
    built.calls.close()


async def planned(reporter: InMemoryReporter, action: str) -> tuple[Delivery, RunPlan]:
    plan = plan_run(await reporter.stream(RUN))
    assert plan is not None
    return next(d for d in plan.deliveries if d.action == action), plan


async def test_a_status_delivery_updates_the_run_and_hands_its_audit_row_to_the_ledger(
    reporter: InMemoryReporter,
) -> None:
    await reporter.request_training(RUN)
    delivery, plan = await planned(reporter, "status")

    outcome = await reporter.deliverer.deliver(delivery, plan, {})

    assert (outcome.state, outcome.result) == (DELIVERED, {"status": "EXPORTING_DATA"})
    assert reporter.port.status_names(RUN) == ["EXPORTING_DATA"]
    assert reporter.audit.entries == []  # written with the ledger row, in one statement
    entry = outcome.last_call
    assert entry is not None
    assert (entry.sdk_method, entry.outcome, entry.context.delivery_key) == (
        "ModelRun.update_status", "ok", delivery.key)


async def test_a_status_delivery_whose_answer_cannot_be_stored_is_audited_at_once(
    reporter: InMemoryReporter,
) -> None:
    await reporter.request_training(RUN)
    delivery, plan = await planned(reporter, "status")
    delivery = replace(delivery, metadata={"note": "a \x00 byte"})

    outcome = await reporter.deliverer.deliver(delivery, plan, {})

    assert outcome.state == DELIVERED and outcome.last_call is None
    [entry] = reporter.audit.entries
    assert entry.sdk_method == "ModelRun.update_status"
    assert unstorable_part(entry) is None  # its text made storable


async def test_an_export_is_stored_as_an_artifact_and_recorded_as_data_exported(
    reporter: InMemoryReporter,
) -> None:
    reporter.port.rows = [
        {"data_row": {"id": "dr-1"}, "experiments": {"model-1": {"runs": {RUN: {
            "labels": [{}, {}], "split": "training"}}}}},
        {"data_row": {"id": "dr-2"}},
    ]
    await reporter.request_training(RUN)
    delivery, plan = await planned(reporter, "export")

    outcome = await reporter.deliverer.deliver(delivery, plan, {})

    [exported] = [e for e in await reporter.stream(RUN) if e.event_type == "DataExported"]
    assert outcome.state == DELIVERED and outcome.result["uri"] == exported.data["uri"]
    assert (exported.data["rows"], exported.data["labels"], exported.data["splits"]) == (
        2, 2, {"training": 1, "unassigned": 1})
    assert exported.metadata["causation_id"] == str(delivery.cause.event_id)


async def test_an_export_labelbox_fails_fails_the_run_for_a_retry(
    reporter: InMemoryReporter,
) -> None:
    reporter.port.export_state = "FAILED"
    await reporter.request_training(RUN)
    delivery, plan = await planned(reporter, "export")

    outcome = await reporter.deliverer.deliver(delivery, plan, {})

    assert outcome.state == DELIVERED
    [failed] = [e for e in await reporter.stream(RUN) if e.event_type == "TrainingFailed"]
    assert failed.data["stage"] == "EXPORTING_DATA" and failed.data["retryable"] is True
    assert "ended FAILED" in failed.data["message"]


async def test_a_predictions_import_created_before_is_found_not_created_again(
    reporter: InMemoryReporter, tmp_path: Path,
) -> None:
    lines = [{"dataRow": {"id": "dr-1"}}, {"dataRow": {"id": "dr-2"}}]
    artifact = write_artifact(f"file://{tmp_path}/p.ndjson",
                              b"".join(json.dumps(line).encode() + b"\n" for line in lines))
    await reporter.request_training(RUN)
    await reporter.append(RUN, ev.predictions(RUN, artifact.uri, artifact.sha256, 2))
    delivery, plan = await planned(reporter, "predictions")
    name = import_name(RUN, 1, delivery.cause.event_id)
    reporter.port.imports[(RUN, name)] = lines  # a reporter crashed after creating it

    outcome = await reporter.deliverer.deliver(delivery, plan, {})

    assert reporter.port.creates == 0
    assert (outcome.state, outcome.result["name"], outcome.result["succeededRows"]) == (
        DELIVERED, name, 2)


async def test_a_call_labelbox_refuses_parks_the_delivery(reporter: InMemoryReporter) -> None:
    reporter.port.refuse.add("update_status")
    await reporter.request_training(RUN)
    delivery, plan = await planned(reporter, "status")

    outcome = await reporter.deliverer.deliver(delivery, plan, {})

    assert outcome.state == PARKED and outcome.result["permanent"] is True
    assert "update_status refused" in (outcome.error or "")
    assert [e.outcome for e in reporter.audit.entries] == ["permanent_error"]
