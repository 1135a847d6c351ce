"""The events the trainer appends (see docs/services.md, the trainer). Event ids are derived
from the run, the attempt and the step, so repeating a step after a crash is an idempotent
append."""

from __future__ import annotations

import math
import uuid
from typing import Any

from eventlog import NewEvent, caused_event
from eventlog.contract import Scores
from services.trainer.pipeline import Evaluation

NAMESPACE = uuid.UUID("3f0c9b1e-8d2a-4e7b-a1c5-6b9e0d4f2a17")


def trainer_event(
    event_type: str,
    data: dict[str, Any],
    *,
    stream_id: str,
    attempt: int,
    step: str = "",
    correlation_id: str | None,
    causation_id: str | uuid.UUID | None = None,
    traceparent: str | None = None,
) -> NewEvent:
    """``traceparent``: the trace context of the event that caused this one."""
    return caused_event(
        event_type, {"attempt": attempt, **data}, producer="trainer",
        event_id=uuid.uuid5(NAMESPACE, f"{stream_id}/{attempt}/{event_type}/{step}"),
        correlation_id=correlation_id, causation_id=causation_id, traceparent=traceparent,
    )


def scores_of(evaluation: Evaluation) -> Scores:
    """``ModelEvaluated.metrics``: what the reporter shows as the run's metadata."""
    scores: Scores = {"scores": _finite(evaluation.scores),
                      "perClass": {metric: _finite(by_class)
                                   for metric, by_class in evaluation.per_class.items()},
                      "evaluated_split": evaluation.split,
                      "evaluated_rows": evaluation.examples}
    if evaluation.confusion:
        scores["confusion"] = evaluation.confusion
    return scores


def finite(value: float | None) -> float | None:
    """JSON (and jsonb) have no NaN or infinity: such a number is recorded as unknown."""
    return float(value) if value is not None and math.isfinite(value) else None


def _finite(values: dict[str, float]) -> dict[str, float]:
    """The numbers of ``values`` that are numbers (a NaN score is left out)."""
    return {k: number for k, v in values.items() if (number := finite(v)) is not None}
