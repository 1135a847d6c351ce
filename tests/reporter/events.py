"""Building the event streams the reporter's tests feed it: a run as ingest, the trainer and
the reporter would have recorded it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from eventlog import LogPosition, NewEvent, RecordedEvent, event_metadata
from eventlog.contract import (
    DATA_EXPORT_REQUESTED,
    MODEL_EVALUATED,
    PREDICTIONS_PRODUCED,
    STAGE_STARTED,
    TRAINING_COMPLETED,
    TRAINING_FAILED,
    TRAINING_PROGRESSED,
    TRAINING_REQUESTED,
)


def new_event(event_type: str, data: dict[str, Any], *, run: str, attempt: int = 1,
              step: str = "") -> NewEvent:
    return NewEvent(
        event_type, {"attempt": attempt, **data},
        event_metadata(producer="test", correlation_id=f"corr-{run}"),
        event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{run}/{attempt}/{event_type}/{step}"),
    )


def requested(run: str, attempt: int = 1, model_type: str = "text_single_classification"
              ) -> NewEvent:
    return new_event(TRAINING_REQUESTED, {"modelRunId": run, "modelId": "model-1",
                                           "modelType": model_type}, run=run, attempt=attempt)


def export_requested(run: str, attempt: int = 1) -> NewEvent:
    return new_event(DATA_EXPORT_REQUESTED, {"modelRunId": run, "modelId": "model-1"},
                     run=run, attempt=attempt)


def stage(run: str, name: str, attempt: int = 1, **metadata: str) -> NewEvent:
    return new_event(STAGE_STARTED, {"stage": name, "metadata": metadata}, run=run,
                     attempt=attempt, step=name)


def evaluated(run: str, attempt: int = 1, metrics_uri: str = "file:///m.json") -> NewEvent:
    return new_event(MODEL_EVALUATED, {
        "metrics": {"scores": {"accuracy": 0.9375, "macro_f1": 0.9},
                    "perClass": {"f1": {"sentiment/negative": 0.875, "sentiment/positive": 1.0}},
                    "evaluated_split": "test", "evaluated_rows": 16, "confusion": {}},
        "metricsUri": metrics_uri, "metricsSha256": "ab"}, run=run, attempt=attempt)


def progressed(run: str, step: int, total: int = 10, attempt: int = 1) -> NewEvent:
    return new_event(TRAINING_PROGRESSED, {
        "stage": "TRAINING_MODEL", "step": step, "total": total, "unit": "epoch",
        "loss": 1.0 / step, "etaSeconds": 2.0 * (total - step)},
        run=run, attempt=attempt, step=f"progress-{step}")


def predictions(run: str, uri: str, sha256: str, count: int, attempt: int = 1) -> NewEvent:
    return new_event(PREDICTIONS_PRODUCED, {"uri": uri, "sha256": sha256, "count": count,
                                            "lines": 2 * count},
                     run=run, attempt=attempt)


def completed(run: str, attempt: int = 1, model_uri: str | None = None,
              **metadata: str) -> NewEvent:
    """``metadata``: what the trainer shows besides the scores (earlier trainers put the
    model's URI under ``model_weights``)."""
    return new_event(TRAINING_COMPLETED, {
        "modelUri": model_uri or f"file:///models/{run}.joblib", "modelSha256": "cd",
        "metadata": {"accuracy": "0.9375", **metadata},
        "config": {"model_type": "text_single_classification", "C": 1.0},
    }, run=run, attempt=attempt)


def failed(run: str, message: str, attempt: int = 1, stage_name: str = "TRAINING_MODEL"
           ) -> NewEvent:
    return new_event(TRAINING_FAILED, {"stage": stage_name, "message": message,
                                        "detail": message, "retryable": False},
                     run=run, attempt=attempt)


def recorded(stream_id: str, events: list[NewEvent]) -> list[RecordedEvent]:
    """As a store would return them (for the pure planner's tests)."""
    now = datetime.now(UTC)
    return [RecordedEvent(stream_id, n, e.event_id, e.event_type, dict(e.data),
                          dict(e.metadata), now, LogPosition(1, n))
            for n, e in enumerate(events, start=1)]
