"""Predictions in the NDJSON form ``ModelRun.add_predictions`` accepts: one radio answer
with its confidence per data row, plus a per-data-row custom metric (the confidence)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

from services.trainer.pipeline import Prediction

PREDICTION_NAMESPACE = uuid.UUID("0b7d3f1e-6a52-4c8e-9d0b-8f7a1c2e3d4b")


def prediction_lines(
    predictions: Sequence[Prediction], classification: str, model_run_id: str
) -> list[dict[str, object]]:
    """Lines with deterministic uuids, so a re-run of the same run yields the same file."""
    lines: list[dict[str, object]] = []
    for p in predictions:
        data_row = {"id": p.data_row_id}
        seed = f"{model_run_id}/{p.data_row_id}"
        lines.append({
            "uuid": str(uuid.uuid5(PREDICTION_NAMESPACE, seed + "/answer")),
            "dataRow": data_row,
            "name": classification,
            "answer": {"name": p.label, "confidence": round(p.confidence, 6)},
        })
        lines.append({
            "uuid": str(uuid.uuid5(PREDICTION_NAMESPACE, seed + "/confidence")),
            "dataRow": data_row,
            "metricValue": round(p.confidence, 6),
            "metricName": "confidence",
            "aggregation": "ARITHMETIC_MEAN",
        })
    return lines


def to_ndjson(lines: Sequence[dict[str, object]]) -> bytes:
    return b"".join(json.dumps(line, separators=(",", ":")).encode() + b"\n" for line in lines)
