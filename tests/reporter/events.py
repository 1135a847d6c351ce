"""Building the event streams the reporter's tests feed it: a run as ingest, the trainer and
the reporter would have recorded it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from eventlog import LogPosition, NewEvent, RecordedEvent, event_metadata


def new_event(event_type: str, data: dict[str, Any], *, run: str, attempt: int = 1,
              step: str = "") -> NewEvent:
    return NewEvent(
        event_type, {"attempt": attempt, **data},
        event_metadata(producer="test", correlation_id=f"corr-{run}"),
        event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{run}/{attempt}/{event_type}/{step}"),
    )


def requested(run: str, attempt: int = 1, model_type: str = "text_single_classification"
              ) -> NewEvent:
    return new_event("TrainingRequested", {"modelRunId": run, "modelId": "model-1",
                                           "modelType": model_type}, run=run, attempt=attempt)


def export_requested(run: str, attempt: int = 1) -> NewEvent:
    return new_event("DataExportRequested", {"modelRunId": run, "modelId": "model-1"},
                     run=run, attempt=attempt)


def stage(run: str, name: str, attempt: int = 1, **metadata: str) -> NewEvent:
    return new_event("StageStarted", {"stage": name, "metadata": metadata}, run=run,
                     attempt=attempt, step=name)


def evaluated(run: str, attempt: int = 1) -> NewEvent:
    return new_event("ModelEvaluated", {"metrics": {"accuracy": 0.9375, "macro_f1": 0.9,
                                                    "evaluated_split": "test",
                                                    "evaluated_rows": 16, "confusion": {}},
                                        "metricsUri": "file:///m.json", "metricsSha256": "ab"},
                     run=run, attempt=attempt)


def predictions(run: str, uri: str, sha256: str, count: int, attempt: int = 1) -> NewEvent:
    return new_event("PredictionsProduced", {"uri": uri, "sha256": sha256, "count": count,
                                             "classification": "sentiment"},
                     run=run, attempt=attempt)


def completed(run: str, attempt: int = 1) -> NewEvent:
    return new_event("TrainingCompleted", {
        "modelUri": f"file:///models/{run}.joblib", "modelSha256": "cd",
        "metadata": {"model_weights": f"file:///models/{run}.joblib", "accuracy": "0.9375"},
    }, run=run, attempt=attempt)


def failed(run: str, message: str, attempt: int = 1, stage_name: str = "TRAINING_MODEL"
           ) -> NewEvent:
    return new_event("TrainingFailed", {"stage": stage_name, "message": message,
                                        "detail": message, "retryable": False},
                     run=run, attempt=attempt)


def recorded(stream_id: str, events: list[NewEvent]) -> list[RecordedEvent]:
    """As a store would return them (for the pure planner's tests)."""
    now = datetime.now(UTC)
    return [RecordedEvent(stream_id, n, e.event_id, e.event_type, dict(e.data),
                          dict(e.metadata), now, LogPosition(1, n))
            for n, e in enumerate(events, start=1)]
