"""What Labelbox must show for a model run, worked out from its stream alone (no I/O).

The reporter reconciles: it reads ``model_run-<id>``, plans the deliveries below, and
delivers those its ledger does not hold yet, in this order. Duplicated, redelivered or
out-of-order messages therefore change nothing. Rules:

- an attempt is acknowledged as soon as it is requested: ``EXPORTING_DATA`` is caused by
  ``TrainingRequested`` (the export itself waits for the trainer's ``DataExportRequested``);
- only the latest attempt is delivered (an attempt superseded by a retry is history);
- a status never goes backwards within an attempt, and nothing follows its terminal status;
- ``COMPLETE`` comes after the predictions delivery (which waits for the import to finish),
  and is replaced by ``FAILED`` when the attempt has a ``TrainingFailed`` event (the
  reporter appends one when Labelbox fails the predictions import itself);
- training progress is coalesced: only the attempt's latest ``TrainingProgressed`` is
  mirrored (as ``progress`` and ``eta_seconds`` metadata), and only while nothing later in
  the attempt (a next stage, scores, the outcome) has made it stale;
- the hyper-parameters go to the run's config (``ModelRun.update_config``) before
  ``COMPLETE``;
- the model and the metrics are named by URI only in ``Delivery.links``, never in the
  metadata: the deliverer turns each into a link a user can open, or says where it is kept.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from eventlog import RecordedEvent
from eventlog.contract import (
    DATA_EXPORT_REQUESTED,
    MODEL_EVALUATED,
    PREDICTIONS_PRODUCED,
    STAGE_STARTED,
    TRAINING_COMPLETED,
    TRAINING_FAILED,
    TRAINING_PROGRESSED,
    TRAINING_REQUESTED,
    model_run_id_of,
    ui_message,
)
from eventlog.contract import attempt_of as attempt_of_payload
from services.reporter.delivery_keys import delivery_key

STATUS_RANK = {"EXPORTING_DATA": 1, "PREPARING_DATA": 2, "TRAINING_MODEL": 3,
               "COMPLETE": 4, "FAILED": 4}
TERMINAL = ("COMPLETE", "FAILED")

Action = Literal["status", "export", "predictions", "config", "complete"]
MAX_PER_CLASS_KEYS = 100
"""Per-class scores shown as metadata keys (``ap50 car``); the rest stay in the metrics
artifact (linked as ``metrics`` where the store can sign links)."""
MODEL_LINK = "model_weights"
METRICS_LINK = "metrics"
SUPERSEDES_PROGRESS = (STAGE_STARTED, MODEL_EVALUATED, PREDICTIONS_PRODUCED, TRAINING_COMPLETED,
                       TRAINING_FAILED)


@dataclass(frozen=True)
class Delivery:
    """One thing Labelbox must be told (or asked), identified by ``key`` within its run."""

    key: str
    action: Action
    attempt: int
    cause: RecordedEvent
    status: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    error_message: str | None = None
    links: tuple[tuple[str, str], ...] = ()
    """(metadata key, artifact URI): the deliverer puts a link a user can open under each
    key (or says why there is none); a URI itself is never shown, it means nothing off the
    trainer's host."""
    acknowledges: bool = False
    """The attempt's first status (``EXPORTING_DATA``, caused by ``TrainingRequested``):
    it tells the user the request was taken, so the reporter sends it ahead of other
    runs' work (its own queue, slots and threads)."""


@dataclass(frozen=True)
class RunPlan:
    stream_id: str
    model_run_id: str
    model_id: str | None
    attempt: int
    correlation_id: str | None
    deliveries: tuple[Delivery, ...]
    requested_at: datetime
    """When the attempt's ``TrainingRequested`` was recorded (a run's duration starts)."""


def attempt_of(event: RecordedEvent) -> int:
    return attempt_of_payload(event.data)


def as_metadata(values: Mapping[str, Any]) -> dict[str, str]:
    """Labelbox types training metadata as ``Dict[str, str]``: send strings only."""
    metadata = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, str):
            metadata[str(key)] = value
        elif isinstance(value, bool | int | float):
            metadata[str(key)] = str(value)
        else:
            metadata[str(key)] = json.dumps(value, separators=(",", ":"), sort_keys=True)
    return metadata


def _score(value: Any) -> str | None:
    return f"{value:.4f}" if isinstance(value, int | float) else None


def _metrics_metadata(data: Mapping[str, Any]) -> dict[str, str]:
    """The run-level scores (``map50``, ``micro_f1``, ``accuracy`` ...) and the scores per
    class (``ap50 car``, ``f1 person``) as metadata; confusion counts as JSON."""
    metrics = data.get("metrics") or {}
    scores = metrics.get("scores") or {  # events written before scores were typed
        name: metrics.get(name) for name in ("accuracy", "macro_f1")}
    values: dict[str, Any] = {name: _score(value) for name, value in scores.items()}
    per_class = [(f"{metric} {name}", value)
                 for metric, by_class in sorted((metrics.get("perClass") or {}).items())
                 for name, value in sorted(by_class.items())]
    values.update((key, _score(value)) for key, value in per_class[:MAX_PER_CLASS_KEYS])
    values["evaluated_split"] = metrics.get("evaluated_split")
    values["evaluated_rows"] = metrics.get("evaluated_rows")
    values["confusion"] = metrics.get("confusion")
    values["metrics_sha256"] = data.get("metricsSha256")
    return as_metadata(values)


class _Planner:
    def __init__(self, attempt: int) -> None:
        self.attempt = attempt
        self.status: str | None = None
        self.deliveries: list[Delivery] = []

    def add(self, key: str, action: Action, cause: RecordedEvent, **fields: Any) -> None:
        self.deliveries.append(
            Delivery(delivery_key(self.attempt, key), action, self.attempt, cause, **fields)
        )

    def add_status(self, key: str, wanted: str, cause: RecordedEvent,
                   metadata: dict[str, str], *, acknowledges: bool = False,
                   links: tuple[tuple[str, str], ...] = ()) -> None:
        # Never backwards: a later stage that maps to an earlier status reports its metadata
        # under the status already shown.
        status = wanted
        if self.status is not None and STATUS_RANK[self.status] > STATUS_RANK[wanted]:
            status = self.status
        self.status = status
        self.add(key, "status", cause, status=status, metadata=metadata,
                 acknowledges=acknowledges, links=links)


def _links(*pairs: tuple[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((key, uri) for key, uri in pairs if isinstance(uri, str) and uri)


def _progress_metadata(data: Mapping[str, Any]) -> dict[str, str]:
    step, total, unit = data.get("step"), data.get("total"), data.get("unit") or "step"
    eta = data.get("etaSeconds")
    return as_metadata({
        "progress": f"{unit} {step} of {total}",
        "loss": _score(data.get("loss")),
        "eta_seconds": f"{eta:.0f}" if isinstance(eta, int | float) else None,
    })


def _latest_progress(events: Sequence[RecordedEvent]) -> RecordedEvent | None:
    """The last ``TrainingProgressed``, unless something later made it stale."""
    for event in reversed(events):
        if event.event_type in SUPERSEDES_PROGRESS:
            return None
        if event.event_type == TRAINING_PROGRESSED:
            return event
    return None


def plan_run(events: Sequence[RecordedEvent]) -> RunPlan | None:
    """The deliveries for the latest attempt of the run ``events`` (one stream) records, or
    ``None`` when no training was requested in it."""
    requests = [e for e in events if e.event_type == TRAINING_REQUESTED]
    if not requests:
        return None
    attempt = max(attempt_of(e) for e in requests)
    request = next(e for e in requests if attempt_of(e) == attempt)
    ours = [e for e in events if attempt_of(e) == attempt]
    failed = next((e for e in ours if e.event_type == TRAINING_FAILED), None)
    progress = _latest_progress(ours)
    progressed = any(e.event_type == TRAINING_PROGRESSED for e in ours)
    planner = _Planner(attempt)
    for event in ours:
        data = event.data
        kind = event.event_type
        if kind == TRAINING_REQUESTED:
            planner.add_status("status/EXPORTING_DATA", "EXPORTING_DATA", event,
                               as_metadata({"attempt": attempt}), acknowledges=True)
        elif kind == DATA_EXPORT_REQUESTED and failed is None:
            # Exporting for an attempt that already failed is pointless.
            planner.add("export", "export", event)
        elif kind == STAGE_STARTED:
            stage = str(data.get("stage", ""))
            wanted = stage if stage in ("PREPARING_DATA", "TRAINING_MODEL") else (
                planner.status or "PREPARING_DATA")
            planner.add_status(f"stage/{stage}", wanted, event,
                               as_metadata({"stage": stage, **(data.get("metadata") or {})}))
        elif event is progress:
            planner.add_status(f"progress/{event.stream_version}",
                               planner.status or "TRAINING_MODEL", event,
                               _progress_metadata(data))
        elif kind == MODEL_EVALUATED:
            planner.add_status("metrics", planner.status or "TRAINING_MODEL", event,
                               _metrics_metadata(data),
                               links=_links((METRICS_LINK, data.get("metricsUri"))))
        elif kind == PREDICTIONS_PRODUCED and failed is None:
            planner.add("predictions", "predictions", event)
        elif kind == TRAINING_COMPLETED and failed is None:
            if data.get("config"):
                planner.add("config", "config", event)
            finished = {"progress": "done", "eta_seconds": "0"} if progressed else {}
            # earlier trainers put the model's URI under model_weights: the link replaces it
            shown = {k: v for k, v in (data.get("metadata") or {}).items() if k != MODEL_LINK}
            metadata = as_metadata({**shown, **finished,
                                    "model_sha256": data.get("modelSha256")})
            planner.add("status/COMPLETE", "complete", event, status="COMPLETE",
                        metadata=metadata, links=_links((MODEL_LINK, data.get("modelUri"))))
            break
        elif kind == TRAINING_FAILED:
            message = ui_message(str(data.get("message") or "Training failed"))
            stopped = {"progress": "stopped", "eta_seconds": ""} if progressed else {}
            planner.add("status/FAILED", "status", event, status="FAILED",
                        metadata=as_metadata({"failed_stage": data.get("stage"), **stopped}),
                        error_message=message)
            break
    return RunPlan(
        stream_id=request.stream_id,
        model_run_id=str(request.data.get("modelRunId") or model_run_id_of(request.stream_id)),
        model_id=request.data.get("modelId"),
        attempt=attempt,
        correlation_id=request.correlation_id,
        deliveries=tuple(planner.deliveries),
        requested_at=request.recorded_at,
    )
