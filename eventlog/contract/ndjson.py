"""Predictions as the NDJSON lines ``ModelRun.add_predictions`` takes: exactly the lines the
SDK's own ``NDJsonConverter.serialize`` produces for each annotation kind (tested against
it), plus a ``uuid`` per line derived from the run, the data row and the annotation, so a
re-run of the same run yields the same file."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from eventlog.contract.annotations import Annotation, BoundingBox, Checklist, Radio, TextEntity

PREDICTION_NAMESPACE = uuid.UUID("0b7d3f1e-6a52-4c8e-9d0b-8f7a1c2e3d4b")
CONFIDENCE_METRIC = "confidence"


def _confidence(value: float | None) -> float:
    return round(float(value if value is not None else 1.0), 6)


def _pixels(value: float) -> float:
    return round(float(value), 2)


def annotation_line(annotation: Annotation, data_row_id: str) -> dict[str, Any]:
    """One annotation's line, without its ``uuid``."""
    data_row = {"id": data_row_id}
    if isinstance(annotation, Radio):
        return {"dataRow": data_row, "name": annotation.feature,
                "answer": {"name": annotation.answer.name,
                           "confidence": _confidence(annotation.answer.confidence)}}
    if isinstance(annotation, Checklist):
        return {"dataRow": data_row, "name": annotation.feature,
                "answer": [{"name": a.name, "confidence": _confidence(a.confidence)}
                           for a in annotation.answers]}
    if isinstance(annotation, BoundingBox):
        return {"dataRow": data_row, "name": annotation.feature, "classifications": [],
                "confidence": _confidence(annotation.confidence),
                "bbox": {"top": _pixels(annotation.top), "left": _pixels(annotation.left),
                         "height": _pixels(annotation.height),
                         "width": _pixels(annotation.width)}}
    if isinstance(annotation, TextEntity):
        return {"dataRow": data_row, "name": annotation.feature, "classifications": [],
                "confidence": _confidence(annotation.confidence),
                "location": {"start": annotation.start, "end": annotation.end}}
    raise TypeError(f"not an annotation: {annotation!r}")


def metric_line(data_row_id: str, name: str, value: float) -> dict[str, Any]:
    """A per-data-row scalar metric (Labelbox averages it over the rows it filters)."""
    return {"dataRow": {"id": data_row_id}, "metricValue": round(float(value), 6),
            "metricName": name, "aggregation": "ARITHMETIC_MEAN"}


def prediction_lines(
    model_run_id: str,
    data_row_id: str,
    annotations: Sequence[Annotation],
    confidence: float | None,
) -> list[dict[str, Any]]:
    """A data row's lines: one per annotation, then its ``confidence`` metric (if any).
    A checklist with no answer predicted has no line (Labelbox would refuse it)."""
    lines = []
    seed = f"{model_run_id}/{data_row_id}"
    for number, annotation in enumerate(annotations):
        if isinstance(annotation, Checklist) and not annotation.answers:
            continue
        line = annotation_line(annotation, data_row_id)
        lines.append({"uuid": str(uuid.uuid5(PREDICTION_NAMESPACE, f"{seed}/{number}")),
                      **line})
    if confidence is not None:
        lines.append({"uuid": str(uuid.uuid5(PREDICTION_NAMESPACE, f"{seed}/confidence")),
                      **metric_line(data_row_id, CONFIDENCE_METRIC, confidence)})
    return lines


def to_ndjson(lines: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(line, separators=(",", ":")).encode() + b"\n" for line in lines)
