"""Whatever Labelbox answers (NUL, lone surrogates, megabytes, JSON nested past any parser,
rows that are not rows), every run ends: COMPLETE, FAILED with a one-line message, or a
parked delivery an operator can redrive. Never a run stuck retrying, never a call without
its audit row."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlog import AppendResult, ExpectedVersion, NewEvent, StreamState, UnstorableTextError
from eventlog.text import MARKER
from fake_labelbox.state import RAW_LINE
from services.reporter.deliverer import Deliverer
from services.reporter.reconciler import Reconciler
from tests.reporter import events as ev
from tests.reporter.conftest import Reporter, sample_rows
from tests.reporter.test_operator_commands import cli

NUL_AND_SURROGATES = "a\x00b\ud800c\udfffd"
RUN_NUMBERS = itertools.count()


def run_id() -> str:
    return f"hostile-{next(RUN_NUMBERS)}"


def with_split(row: dict[str, Any], run: str, split: Any) -> dict[str, Any]:
    row["experiments"]["model-1"]["runs"][run]["split"] = split
    return row


def with_class_name(row: dict[str, Any], run: str, name: str) -> dict[str, Any]:
    labels = row["experiments"]["model-1"]["runs"][run]["labels"]
    labels[0]["annotations"]["classifications"][0]["radio_answer"]["name"] = name
    return row


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


async def export_and_train(reporter: Reporter, run: str) -> None:
    """What ingest, the reporter and the trainer do for a run, the trainer trained on the
    exported rows' ids when the export succeeded."""
    await reporter.request_training(run)
    await reporter.reconcile(run)
    events = [e.event_type for e in await reporter.store.read_stream(f"model_run-{run}")]
    if "DataExported" not in events:
        return
    rows = await reporter.exported_rows(run)
    ids = [(r.get("data_row") or {}).get("id") if isinstance(r.get("data_row"), dict)
           else None for r in rows]
    if all(isinstance(i, str) for i in ids):
        await reporter.train(run)
    else:  # as the trainer fails a run on an export it cannot train from
        first = next(n for n, i in enumerate(ids, start=1) if not isinstance(i, str))
        await reporter.append(run, ev.failed(run, f"data row {first} has no id",
                                             stage_name="PREPARING_DATA"))
    await reporter.reconcile(run)


async def ending(reporter: Reporter, run: str) -> str:
    """How the run ended: ``complete``, ``failed`` (with a one-line message) or ``parked``."""
    parked = [r for r in await reporter.ledger_rows(run) if r["state"] == "parked"]
    if parked:
        assert all(r["error"] for r in parked)
        return "parked"
    statuses = reporter.fake.control.model_run(run)["statuses"]
    last = statuses[-1] if statuses else {}
    if last.get("status") == "FAILED":
        message = last["error_message"]
        assert message and "\n" not in message and len(message) <= 255
        return "failed"
    assert last.get("status") == "COMPLETE", statuses
    return "complete"


async def test_a_split_and_a_class_name_holding_nul_are_exported_with_a_marker_once(
    reporter: Reporter,
) -> None:
    run = run_id()
    rows = sample_rows(run, 12)
    with_split(rows[0], run, "train\x00ing")
    with_class_name(rows[1], run, "posi\x00tive\ud800")
    reporter.fake.control.add_model_run(run, data_rows=rows)

    await reporter.request_training(run)
    await reporter.reconcile(run)

    [exported] = [e for e in await reporter.store.read_stream(f"model_run-{run}")
                  if e.event_type == "DataExported"]
    assert exported.data["splits"][f"train{MARKER}ing"] == 1
    artifact = await reporter.exported_rows(run)
    assert json.dumps(artifact, ensure_ascii=False).count(f"posi{MARKER}tive{MARKER}") == 1
    assert len(reporter.fake.control.exports(run)) == 1  # one export task, not one per sweep
    await reporter.train(run)
    await reporter.reconcile(run)
    assert await ending(reporter, run) == "complete"


async def test_a_permanent_error_whose_message_holds_nul_is_audited_and_parks_the_delivery(
    reporter: Reporter,
) -> None:
    run = run_id()
    reporter.fake.control.add_model_run(run, data_rows=sample_rows(run, 4))
    reporter.fake.control.add_fault("setPipelineStatusPyApi", model_run_id=run,
                                    graphql_error="RESOURCE_CONFLICT",
                                    message=f"conflict {NUL_AND_SURROGATES}")

    await reporter.request_training(run)
    await asyncio.wait_for(reporter.reconcile(run), 30)

    [parked] = await reporter.ledger_rows(run)
    assert parked["state"] == "parked"
    assert f"conflict a{MARKER}b{MARKER}c{MARKER}d" in parked["error"]
    [call] = await reporter.audit(run)
    assert call["outcome"] == "permanent_error"
    assert call["error"] == f"conflict a{MARKER}b{MARKER}c{MARKER}d"
    assert len(reporter.fake.control.requests("setPipelineStatusPyApi", run)) == 1
    assert [p.delivery_key for p in await reporter.ledger.parked()] == [parked["delivery_key"]]


async def test_transient_errors_whose_messages_hold_nul_are_each_audited_then_retried(
    reporter: Reporter,
) -> None:
    run = run_id()
    reporter.fake.control.add_model_run(run, data_rows=sample_rows(run, 4))
    reporter.fake.control.add_fault("setPipelineStatusPyApi", model_run_id=run, status=429,
                                    message=NUL_AND_SURROGATES, times=2)

    await reporter.request_training(run)
    await asyncio.wait_for(reporter.reconcile(run), 30)

    assert reporter.fake.control.statuses(run) == ["EXPORTING_DATA"]
    calls = [(c["sdk_method"], c["outcome"]) for c in await reporter.audit(run)]
    assert calls[:3] == [("ModelRun.update_status", "retryable_error")] * 2 + [
        ("ModelRun.update_status", "ok")]
    requests = reporter.fake.control.requests("setPipelineStatusPyApi", run)
    assert len(requests) == 3  # every request that reached Labelbox has its audit row


@pytest.mark.parametrize("row_status", ["SUCC\x00ESS", "\ud800", {"deep": [[[1]]]}, None])
async def test_import_row_statuses_holding_anything_still_end_the_run(
    reporter: Reporter, row_status: Any,
) -> None:
    run = run_id()
    control = reporter.fake.control
    control.add_model_run(run, data_rows=sample_rows(run, 4))
    control.set_import_behaviour(run, row_status=row_status, failing_data_rows=[
        sample_rows(run, 4)[0]["data_row"]["id"]], row_error="lost\x00" * 1000)

    await asyncio.wait_for(export_and_train(reporter, run), 60)

    assert await ending(reporter, run) == "complete"
    metadata = control.metadata(run)
    assert int(metadata["predictions_row_errors"]) >= 1
    assert len(metadata["predictions_first_row_error"]) < 1200


@pytest.mark.parametrize("line", [nested(5000), "not json at all", "[1, 2, 3]"],
                         ids=["nested-5000", "not-json", "not-an-object"])
async def test_an_export_whose_rows_cannot_be_read_fails_the_run_with_one_line(
    reporter: Reporter, line: str,
) -> None:
    run = run_id()
    rows = [*sample_rows(run, 3), {RAW_LINE: line}]
    reporter.fake.control.add_model_run(run, data_rows=rows)

    await asyncio.wait_for(export_and_train(reporter, run), 30)

    assert await ending(reporter, run) == "failed"
    [update] = [s for s in reporter.fake.control.model_run(run)["statuses"]
                if s["status"] == "FAILED"]
    assert "export of the model run's data cannot be read" in update["error_message"]
    assert len(reporter.fake.control.exports(run)) == 1
    audit = await reporter.audit(run)
    assert [c["outcome"] for c in audit if c["sdk_method"] ==
            "ExportTask.get_buffered_stream"] == ["permanent_error"]


class RefusingStore:
    """The event store, refusing (as PostgreSQL refuses a NUL) the events of one type."""

    def __init__(self, store: Any, refused: str) -> None:
        self._store = store
        self._refused = refused

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def append(self, stream_id: str, events: Sequence[NewEvent],
                     expected_version: ExpectedVersion = StreamState.ANY) -> AppendResult:
        if any(e.event_type == self._refused for e in events):
            raise UnstorableTextError("PostgreSQL refused text (NUL or a lone surrogate)")
        result: AppendResult = await self._store.append(stream_id, events, expected_version)
        return result


async def test_a_delivery_whose_result_cannot_be_recorded_is_parked_not_repeated(
    reporter: Reporter, database_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    run = run_id()
    reporter.fake.control.add_model_run(run, data_rows=sample_rows(run, 4))
    refusing = RefusingStore(reporter.store, "DataExported")
    deliverer = Deliverer(reporter.reconciler._deliverer._port, reporter.calls, refusing,
                          reporter.settings)  # type: ignore[arg-type]
    reconciler = Reconciler(reporter.store, reporter.ledger, deliverer, reporter.metrics,
                            concurrency=2, acknowledge_concurrency=2)
    await reporter.request_training(run)

    for _ in range(3):  # messages, redeliveries and sweeps
        await asyncio.wait_for(reconciler.reconcile(f"model_run-{run}"), 30)

    [export] = [r for r in await reporter.ledger_rows(run) if r["action"] == "export"]
    assert export["state"] == "parked"
    assert "outcome cannot be recorded: UnstorableTextError" in export["error"]
    assert len(reporter.fake.control.exports(run)) == 1
    code, out, _ = cli(database_url, capsys, "parked", "--json")  # what an operator sees
    assert code == 0
    [shown] = [p for p in json.loads(out) if p["model_run_id"] == run]
    assert (shown["action"], shown["state"]) == ("export", "parked")
    assert "outcome cannot be recorded" in shown["error"]

    # an operator redrives it once the cause is fixed: the run goes on
    assert await reporter.ledger.request_redrive(run) == [f"model_run-{run}"]
    await reporter.reconcile(run)
    assert "DataExported" in [e.event_type
                              for e in await reporter.store.read_stream(f"model_run-{run}")]


HOSTILE_TEXT = st.one_of(
    st.sampled_from(["\x00", "\ud800", "\udfff", "a\x00\ud800b", "x" * (1024 * 1024)]),
    st.binary(max_size=40).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=30),
)
HOSTILE_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | HOSTILE_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(HOSTILE_TEXT, inner, max_size=3),
    max_leaves=6,
)
RAW_LINES = st.sampled_from([nested(3000), "{", "null", '"\\u0000"', '{"a": "\\ud800"}'])


@st.composite
def injections(draw: st.DrawFn) -> dict[str, Any]:
    """One hostile value at one place where Labelbox data enters the reporter."""
    place = draw(st.sampled_from(["split", "class_name", "row_field", "raw_row",
                                  "error_message", "row_status", "row_error"]))
    if place in ("split", "row_field", "row_status", "row_error"):
        return {"place": place, "value": draw(HOSTILE_JSON)}
    if place == "raw_row":
        return {"place": place, "value": draw(RAW_LINES)}
    value = draw(HOSTILE_TEXT)
    if place == "error_message":
        return {"place": place, "value": value,
                "operation": draw(st.sampled_from([
                    "setPipelineStatusPyApi", "exportDataRowsInModelRunPyApi",
                    "getModelErrorAnalysisPredictionImportPyApi"])),
                "fault": draw(st.sampled_from([
                    {"status": 429}, {"graphql_error": "RESOURCE_CONFLICT"},
                    {"graphql_error": "INTERNAL_SERVER_ERROR"}])),
                "times": draw(st.sampled_from([1, 2, None]))}
    return {"place": place, "value": value}


def inject(reporter: Reporter, run: str, injection: dict[str, Any]) -> None:
    control = reporter.fake.control
    rows = sample_rows(run, 6)
    place, value = injection["place"], injection["value"]
    if place == "split":
        with_split(rows[0], run, value)
    elif place == "class_name":
        with_class_name(rows[0], run, value)
    elif place == "row_field":
        rows[0]["extra"] = value
    elif place == "raw_row":
        rows.append({RAW_LINE: value})
    elif place == "error_message":
        control.add_fault(injection["operation"], model_run_id=run, message=value,
                          times=injection["times"], **injection["fault"])
    elif place == "row_status":
        control.set_import_behaviour(run, row_status=value)
    elif place == "row_error":
        control.set_import_behaviour(run, row_error=value,
                                     failing_data_rows=[rows[0]["data_row"]["id"]])
    control.add_model_run(run, data_rows=rows)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(injection=injections())
async def test_hostile_labelbox_data_anywhere_every_run_ends_within_a_bounded_time(
    reporter: Reporter, injection: dict[str, Any],
) -> None:
    run = run_id()
    inject(reporter, run, injection)

    await asyncio.wait_for(export_and_train(reporter, run), 60)

    assert await ending(reporter, run) in ("complete", "failed", "parked")
    for call in await reporter.audit(run):  # each call that was made is audited
        assert call["outcome"] in ("ok", "retryable_error", "permanent_error")


@pytest.mark.parametrize("odd", [{"split": {"nested": ["x"]}}, {"experiments": ["not", "a map"]},
                                 {"labels": "not a list"}], ids=["split", "experiments", "labels"])
async def test_rows_of_another_shape_are_exported_for_the_trainer_to_judge(
    reporter: Reporter, odd: dict[str, Any],
) -> None:
    run = run_id()
    rows = sample_rows(run, 4)
    if "experiments" in odd:
        rows[0]["experiments"] = odd["experiments"]
    else:
        rows[0]["experiments"]["model-1"]["runs"][run].update(odd)
    reporter.fake.control.add_model_run(run, data_rows=rows)

    await reporter.request_training(run)
    await asyncio.wait_for(reporter.reconcile(run), 30)

    [exported] = [e for e in await reporter.store.read_stream(f"model_run-{run}")
                  if e.event_type == "DataExported"]
    assert exported.data["rows"] == 4
