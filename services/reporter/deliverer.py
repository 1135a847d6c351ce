"""Carrying out one planned delivery against Labelbox (through the port, via
:class:`~services.reporter.calls.LabelboxCalls`): a status update, an export, a predictions
import, or the final ``COMPLETE``. Returns what the ledger records; a call that cannot
succeed now parks the delivery instead of raising."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eventlog import EventStore, json_logs, telemetry
from eventlog.artifacts import join, read_artifact, write_artifact
from eventlog.contract import DATA_EXPORTED, TRAINING_FAILED, ui_message
from eventlog.tracing import trace_id_of
from services.reporter.artifact_links import ArtifactLinks
from services.reporter.audit import AuditEntry, CallContext
from services.reporter.calls import CallFailedError, LabelboxCalls, RetryableCallError
from services.reporter.delivery_keys import delivery_key
from services.reporter.events import import_name, reporter_event
from services.reporter.labelbox_port import ImportReport, LabelboxPort, UnreadableExportError
from services.reporter.ledger import DELIVERED, PARKED, LedgerEntry
from services.reporter.plan import Delivery, RunPlan, as_metadata
from services.reporter.settings import ReporterSettings

logger = logging.getLogger(__name__)

MAX_ROW_ERRORS_KEPT = 20


@dataclass(frozen=True)
class DeliveryOutcome:
    state: str
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    last_call: AuditEntry | None = None
    """The audit row of the delivery's last call, not written yet: the ledger writes it with
    the outcome (:meth:`LabelboxCalls.last_call`)."""
    replan: bool = False
    """The delivery appended an event the run's plan reads (``TrainingFailed``): the stream
    is read on before the next delivery. (``DataExported`` is for the trainer.)"""


def _summary(rows: list[dict[str, Any]], model_id: str | None,
             model_run_id: str) -> dict[str, Any]:
    """Row, label and split counts of an export, for the ``DataExported`` event. A row of
    another shape counts as unassigned (the trainer says what is wrong with it)."""
    labels = 0
    splits: Counter[str] = Counter()
    for row in rows:
        experiments = _mapping(row.get("experiments"))
        candidates = ([experiments[model_id]] if model_id is not None and model_id in experiments
                      else experiments.values())
        run: Mapping[str, Any] = {}
        for experiment in candidates:
            run = _mapping(_mapping(_mapping(experiment).get("runs")).get(model_run_id)) or run
        found = run.get("labels")
        labels += len(found) if isinstance(found, list) else 0
        split = run.get("split") or "unassigned"
        splits[split if isinstance(split, str) else f"<{type(split).__name__}>"] += 1
    return {"rows": len(rows), "labels": labels, "splits": dict(sorted(splits.items()))}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _ndjson(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(row, separators=(",", ":")).encode() + b"\n" for row in rows)


def _read_lines(uri: str, sha256: str) -> list[dict[str, Any]]:
    raw = read_artifact(uri, sha256)
    return [json.loads(line) for line in raw.splitlines() if line.strip()]


def _import_response(report: ImportReport | None) -> tuple[dict[str, Any], dict[str, str]]:
    if report is None:
        return {"found": False}, {}
    return ({"id": report.import_id, "state": report.state, "progress": report.progress},
            {"import_id": report.import_id})


class Deliverer:
    def __init__(self, port: LabelboxPort, calls: LabelboxCalls, store: EventStore,
                 settings: ReporterSettings) -> None:
        self._port = port
        self._calls = calls
        self._store = store
        self._settings = settings
        self._links = ArtifactLinks(settings.artifact_link_seconds)

    async def deliver(self, delivery: Delivery, plan: RunPlan,
                      ledger: Mapping[str, LedgerEntry]) -> DeliveryOutcome:
        """With tracing on, in a span continuing the trace of the event that caused it; each
        Labelbox call made for it is a client span under that one."""
        cause = delivery.cause.metadata.get("traceparent")
        json_logs.trace_id.set(trace_id_of(cause))
        with telemetry.span(f"deliver {delivery.action}", cause=cause,
                            attributes={"trainbridge.delivery_key": delivery.key,
                               "trainbridge.stream_id": plan.stream_id}):
            return await self._deliver(delivery, plan, ledger)

    async def _deliver(self, delivery: Delivery, plan: RunPlan,
                       ledger: Mapping[str, LedgerEntry]) -> DeliveryOutcome:
        context = CallContext(
            model_run_id=plan.model_run_id, stream_id=plan.stream_id, action=delivery.action,
            cause_event_id=delivery.cause.event_id, delivery_key=delivery.key,
            run_attempt=delivery.attempt,
            correlation_id=plan.correlation_id, acknowledges=delivery.acknowledges,
        )
        try:
            if delivery.action == "export":
                return await self._export(delivery, plan, context)
            if delivery.action == "predictions":
                return await self._predictions(delivery, plan, context)
            if delivery.action == "config":
                return await self._config(plan, context, delivery.cause.data["config"])
            if delivery.action == "complete":
                return await self._complete(delivery, plan, context, ledger)
            return await self._status(delivery, plan, context, delivery.metadata)
        except CallFailedError as exc:
            logger.error("%s: %s parked: %s", plan.stream_id, delivery.key, exc)
            return DeliveryOutcome(PARKED, {"permanent": exc.permanent,
                                            "tries": exc.tries}, str(exc))

    async def _status(self, delivery: Delivery, plan: RunPlan, context: CallContext,
                      metadata: Mapping[str, str]) -> DeliveryOutcome:
        status = delivery.status or "TRAINING_MODEL"
        linked = await self._links.metadata(delivery.links, plan.model_run_id, plan.attempt)
        sent = {**metadata, **linked.sent}
        _, call = await self._calls.last_call(
            context, "ModelRun.update_status",
            lambda: self._port.update_status(plan.model_run_id, status, sent,
                                             delivery.error_message),
            request={"modelRunId": plan.model_run_id, "status": status,
                     "metadata": {**metadata, **linked.audited},
                     "errorMessage": delivery.error_message},
        )
        return DeliveryOutcome(DELIVERED, {"status": status}, last_call=call)

    async def _config(self, plan: RunPlan, context: CallContext,
                      config: Mapping[str, Any]) -> DeliveryOutcome:
        """Best effort: the model is trained and its predictions imported, so a config that
        Labelbox refuses (or that keeps failing) is recorded, never holds ``COMPLETE`` back.
        Every attempt is in the audit log."""
        try:
            _, call = await self._calls.last_call(
                context, "ModelRun.update_config",
                lambda: self._port.update_config(plan.model_run_id, config),
                request={"modelRunId": plan.model_run_id, "config": dict(config)},
            )
        except CallFailedError as exc:
            logger.warning("%s: the run's config was not updated (%s); completing anyway",
                           plan.stream_id, exc)
            return DeliveryOutcome(DELIVERED, {"keys": sorted(config), "error": str(exc)})
        return DeliveryOutcome(DELIVERED, {"keys": sorted(config)}, last_call=call)

    async def _complete(self, delivery: Delivery, plan: RunPlan, context: CallContext,
                        ledger: Mapping[str, LedgerEntry]) -> DeliveryOutcome:
        predictions = ledger.get(delivery_key(plan.attempt, "predictions"))
        extra: dict[str, Any] = {}
        if predictions is not None:
            result = predictions.result
            extra = {
                "predictions_import_id": result.get("importId"),
                "predictions_import_name": result.get("name"),
                "predictions_import_state": result.get("state"),
                "predictions_rows": result.get("rows"),
                "predictions_row_errors": result.get("failedRows"),
            }
            if result.get("rowErrors"):
                extra["predictions_first_row_error"] = json.dumps(result["rowErrors"][0])
        return await self._status(delivery, plan, context,
                                  {**delivery.metadata, **as_metadata(extra)})

    async def _fail_run(self, delivery: Delivery, plan: RunPlan, stage: str,
                        message: str) -> None:
        await self._store.append(plan.stream_id, [reporter_event(
            TRAINING_FAILED,
            {"stage": stage, "message": ui_message(message), "detail": message,
             "retryable": True},
            stream_id=plan.stream_id, attempt=plan.attempt,
            correlation_id=plan.correlation_id, causation_id=delivery.cause.event_id,
            traceparent=delivery.cause.metadata.get("traceparent"),
        )])

    async def _export(self, delivery: Delivery, plan: RunPlan,
                      context: CallContext) -> DeliveryOutcome:
        settings = self._settings
        task_name = f"trainbridge-{plan.model_run_id}-attempt-{plan.attempt}"
        task_id = await self._calls.call(
            context, "ModelRun.export",
            lambda: self._port.start_export(plan.model_run_id, task_name),
            request={"modelRunId": plan.model_run_id, "taskName": task_name},
            describe=lambda t: ({"taskId": t}, {"export_task_id": t}),
        )
        ids = {"export_task_id": task_id}
        deadline = time.monotonic() + settings.export_timeout
        while True:
            status = await self._calls.call(
                context, "ExportTask.get_task", lambda: self._port.export_status(task_id),
                request={"taskId": task_id}, ids=ids, describe=lambda s: ({"status": s}, {}),
            )
            if status != "IN_PROGRESS" or time.monotonic() >= deadline:
                break
            await asyncio.sleep(settings.export_poll_interval)
        if status != "COMPLETE":
            why = ("did not finish within " f"{settings.export_timeout:g} s"
                   if status == "IN_PROGRESS" else f"ended {status}")
            await self._fail_run(delivery, plan, "EXPORTING_DATA",
                                 f"Labelbox could not export the model run's data (export "
                                 f"task {task_id} {why})")
            return DeliveryOutcome(DELIVERED, {"exportTaskId": task_id, "status": status},
                                   replan=True)
        try:
            rows = await self._calls.call(
                context, "ExportTask.get_buffered_stream",
                lambda: self._port.export_rows(task_id),
                request={"taskId": task_id, "streamType": "RESULT"}, ids=ids,
                describe=lambda r: ({"rows": len(r)}, {}),
            )
        except CallFailedError as exc:
            if not isinstance(exc.cause, UnreadableExportError):
                raise
            await self._fail_run(delivery, plan, "EXPORTING_DATA",
                                 f"Labelbox's export of the model run's data cannot be read "
                                 f"(export task {task_id}): {exc.cause}")
            return DeliveryOutcome(DELIVERED, {"exportTaskId": task_id, "unreadable": True},
                                   replan=True)
        uri = join(settings.artifacts_url, plan.stream_id, f"attempt-{plan.attempt}",
                   "export.ndjson")
        artifact = await asyncio.to_thread(write_artifact, uri, _ndjson(rows))
        summary = _summary(rows, plan.model_id, plan.model_run_id)
        await self._store.append(plan.stream_id, [reporter_event(
            DATA_EXPORTED,
            {"uri": artifact.uri, "sha256": artifact.sha256, "bytes": artifact.size,
             "exportTaskId": task_id, **summary},
            stream_id=plan.stream_id, attempt=plan.attempt,
            correlation_id=plan.correlation_id, causation_id=delivery.cause.event_id,
            traceparent=delivery.cause.metadata.get("traceparent"),
        )])
        return DeliveryOutcome(DELIVERED, {"exportTaskId": task_id, "uri": artifact.uri,
                                           "sha256": artifact.sha256, **summary})

    async def _find_or_create(self, context: CallContext, plan: RunPlan, name: str,
                              lines: list[dict[str, Any]], request: dict[str, Any]
                              ) -> ImportReport:
        """Find the import by (modelRunId, name) before creating it, on every attempt: a
        create whose answer was lost may have happened. So it is never created twice."""
        try:
            async for trying in self._calls.retrying():
                with trying:
                    call_try = trying.retry_state.attempt_number
                    found = await self._calls.once(
                        context, "MEAPredictionImport.from_name",
                        lambda: self._port.find_import(plan.model_run_id, name),
                        request={"modelRunId": plan.model_run_id, "name": name},
                        call_try=call_try, describe=_import_response,
                    )
                    if found is not None:
                        return found
                    return await self._calls.once(
                        context, "ModelRun.add_predictions",
                        lambda: self._port.create_import(plan.model_run_id, name, lines),
                        request=request, call_try=call_try, describe=_import_response,
                    )
        except RetryableCallError as exc:
            raise self._calls.gave_up(exc) from exc.cause
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def _predictions(self, delivery: Delivery, plan: RunPlan,
                           context: CallContext) -> DeliveryOutcome:
        settings = self._settings
        data = delivery.cause.data
        uri, sha256 = str(data["uri"]), str(data["sha256"])
        name = import_name(plan.model_run_id, plan.attempt, delivery.cause.event_id)
        lines = await asyncio.to_thread(_read_lines, uri, sha256)
        request = {"modelRunId": plan.model_run_id, "name": name, "uri": uri,
                   "sha256": sha256, "lines": len(lines)}
        report = await self._find_or_create(context, plan, name, lines, request)
        ids = {"import_id": report.import_id}
        deadline = time.monotonic() + settings.import_timeout
        while report.state == "RUNNING":
            if time.monotonic() >= deadline:
                raise CallFailedError(
                    "MEAPredictionImport.from_name",
                    TimeoutError(f"import {report.import_id} still RUNNING after "
                                 f"{settings.import_timeout:g} s"), tries=1, permanent=False)
            await asyncio.sleep(settings.import_poll_interval)
            polled = await self._calls.call(
                context, "MEAPredictionImport.from_name",
                lambda: self._port.find_import(plan.model_run_id, name),
                request={"modelRunId": plan.model_run_id, "name": name}, ids=ids,
                describe=_import_response,
            )
            if polled is None:
                raise CallFailedError("MEAPredictionImport.from_name",
                                      LookupError(f"import {name} vanished"), tries=1,
                                      permanent=True)
            report = polled
        result: dict[str, Any] = {"importId": report.import_id, "name": name,
                                  "state": report.state, "rows": len(lines)}
        if report.state == "FINISHED":
            statuses, call = await self._calls.last_call(
                context, "MEAPredictionImport.statuses",
                lambda: self._port.import_row_statuses(report),
                request={"modelRunId": plan.model_run_id, "name": name,
                         "statusFileUrl": report.status_file_url}, ids=ids,
                describe=lambda s: (_row_outcomes(s), {}),
            )
            result.update(_row_outcomes(statuses))
            return DeliveryOutcome(DELIVERED, result, last_call=call)
        await self._fail_run(delivery, plan, "UPLOADING_PREDICTIONS",
                             f"Labelbox failed the predictions import {name} "
                             f"({report.import_id}): state {report.state}")
        return DeliveryOutcome(DELIVERED, result, replan=True)


MAX_ROW_ERROR_CHARS = 1000
"""Of each kept row error, as JSON text: a status file may say anything, at any length."""


def _clipped(value: Any) -> Any:
    """``value`` when its JSON is short, else its JSON text cut short."""
    try:
        text = value if isinstance(value, str) else json.dumps(value)
    except (ValueError, RecursionError):
        return "<unreadable>"
    if len(text) <= MAX_ROW_ERROR_CHARS:
        return value
    return text[:MAX_ROW_ERROR_CHARS] + "..."


def _row_outcomes(statuses: list[dict[str, Any]]) -> dict[str, Any]:
    failed = [s for s in statuses if str(s.get("status", "")).upper() != "SUCCESS"]
    return {
        "succeededRows": len(statuses) - len(failed),
        "failedRows": len(failed),
        "rowErrors": [{"dataRow": _clipped(_data_row_id(s.get("dataRow"))),
                       "errors": _clipped(s.get("errors"))}
                      for s in failed[:MAX_ROW_ERRORS_KEPT]],
    }


def _data_row_id(data_row: Any) -> Any:
    return data_row.get("id") if isinstance(data_row, dict) else data_row
