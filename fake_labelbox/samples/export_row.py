"""Building export-v2 rows as ``ModelRun.export`` streams them, for the sample exports of
every model type (tests, benchmarks, demos and the fake's default rows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]


@dataclass(frozen=True)
class SampleExport:
    """A model run's export rows, and the files their ``row_data`` URLs point at, keyed by
    URL path (``/media/boxes-0001.png``); rows carry ``{base_url}{path}``."""

    rows: list[Row]
    files: dict[str, bytes] = field(default_factory=dict)


def split_of(index: int, count: int) -> str:
    """80/10/10 training/validation/test, interleaved so every split sees every class."""
    bucket = index % 10
    return "training" if bucket < 8 else "validation" if bucket == 8 else "test"


def radio(feature: str, answer: str) -> Row:
    return {"name": feature, "value": feature, "radio_answer": {
        "name": answer, "value": answer, "classifications": []}}


def checklist(feature: str, answers: Sequence[str]) -> Row:
    return {"name": feature, "value": feature, "checklist_answers": [
        {"name": a, "value": a, "classifications": []} for a in answers]}


def bounding_box(feature: str, top: float, left: float, height: float, width: float) -> Row:
    return {"name": feature, "value": feature, "annotation_kind": "ImageBoundingBox",
            "classifications": [], "bounding_box": {
                "top": float(top), "left": float(left), "height": float(height),
                "width": float(width)}}


def text_entity(feature: str, text: str, start: int, end: int) -> Row:
    """``end`` INCLUSIVE, as Labelbox exports it."""
    return {"name": feature, "value": feature, "annotation_kind": "TextEntity",
            "classifications": [],
            "location": {"start": start, "end": end, "token": text[start:end + 1]}}


def export_row(
    model_id: str,
    model_run_id: str,
    *,
    data_row_id: str,
    global_key: str,
    row_data: str,
    split: str | None,
    objects: Sequence[Row] = (),
    classifications: Sequence[Row] = (),
    labelled: bool = True,
    media: Row | None = None,
) -> Row:
    """One row; ``labelled=False`` gives it no label in the model run (predicted only)."""
    labels = [{
        "label_kind": "Default",
        "annotations": {"objects": list(objects), "classifications": list(classifications),
                        "relationships": []},
    }] if labelled else []
    run: Row = {"name": model_run_id, "labels": labels}
    if split is not None:
        run["split"] = split
    return {
        "data_row": {"id": data_row_id, "global_key": global_key, "row_data": row_data},
        "media_attributes": media or {"mime_type": "text/plain"},
        "experiments": {model_id: {"name": model_id, "runs": {model_run_id: run}}},
    }
