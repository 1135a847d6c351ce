"""The events the reporter appends: ``DataExported`` (or ``TrainingFailed`` when Labelbox
cannot export the data, or fails the predictions import itself). Their ids derive from the
run, the attempt and the event type, so repeating a delivery appends nothing twice."""

from __future__ import annotations

import uuid
from typing import Any

from eventlog import NewEvent, caused_event

NAMESPACE = uuid.UUID("9a4c2e71-5b3d-4f08-8c6e-1d2f3a4b5c6d")


def reporter_event(event_type: str, data: dict[str, Any], *, stream_id: str, attempt: int,
                   correlation_id: str | None, causation_id: uuid.UUID,
                   traceparent: str | None = None) -> NewEvent:
    return caused_event(
        event_type, {"attempt": attempt, **data}, producer="reporter",
        event_id=uuid.uuid5(NAMESPACE, f"{stream_id}/{attempt}/{event_type}"),
        correlation_id=correlation_id, causation_id=causation_id, traceparent=traceparent,
    )


def import_name(model_run_id: str, attempt: int, cause: uuid.UUID) -> str:
    """The predictions import's name: derived from the model run and the event, so a
    reporter that crashed after creating it finds it again by (modelRunId, name)."""
    return f"trainbridge-{model_run_id}-attempt-{attempt}-{cause.hex[:12]}"
