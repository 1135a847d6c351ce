"""Reading Labelbox export-v2 rows (what ``ModelRun.export`` streams) into the ground truth
of each data row, typed by annotation kind.

A row carries ``data_row`` {id, global_key, row_data (inline text or a URL)},
``media_attributes`` {mime_type, width, height, ...} and
``experiments[<modelId>].runs[<modelRunId>]`` with ``split`` and ``labels[].annotations``
{``objects``: bounding boxes and text entities, ``classifications``: radio and checklist
answers}. Kinds no built-in pipeline learns (polygons, free text, ...) are left out."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eventlog.contract import Annotation, Answer, BoundingBox, Checklist, Radio, TextEntity
from services.trainer.pipeline import SPLITS, Split


class ExportFormatError(ValueError):
    """An export row that does not have the shape Labelbox documents."""


@dataclass(frozen=True)
class RowRef:
    """A data row before its content is fetched."""

    data_row_id: str
    row_data: str
    """Inline text, or the URL of the text or image."""
    mime_type: str | None
    annotations: tuple[Annotation, ...]
    labelled: bool
    split: Split | None
    width: int | None = None
    height: int | None = None

    @property
    def is_url(self) -> bool:
        return self.row_data.startswith(("http://", "https://", "gs://", "s3://"))

    @property
    def is_image(self) -> bool:
        return (self.mime_type or "").startswith("image/")


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    """``value`` as an object (null: empty), or the row is not of Labelbox's shape."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ExportFormatError(f"{where} is a {type(value).__name__}, not an object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ExportFormatError(f"{where} is a {type(value).__name__}, not a list")
    return value


def _run_of(row: Mapping[str, Any], model_id: str | None, model_run_id: str,
            where: str) -> Mapping[str, Any]:
    experiments = _mapping(row.get("experiments"), f"{where}: experiments")
    candidates = ([experiments[model_id]] if model_id is not None and model_id in experiments
                  else experiments.values())
    for experiment in candidates:
        runs = _mapping(_mapping(experiment, f"{where}: experiment").get("runs"),
                        f"{where}: runs")
        if model_run_id in runs:
            return _mapping(runs[model_run_id], f"{where}: model run")
    return {}


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ExportFormatError(f"{where}: {value!r} is not a number")
    return float(value)


def _answer(value: Any) -> Answer | None:
    if isinstance(value, Mapping) and value.get("name"):
        return Answer(str(value["name"]))
    return None


def _classification(value: Any) -> Annotation | None:
    if not isinstance(value, Mapping) or not value.get("name"):
        return None
    feature = str(value["name"])
    if "radio_answer" in value:
        answer = _answer(value["radio_answer"])
        return Radio(feature, answer) if answer else None
    if "checklist_answers" in value:
        chosen = value.get("checklist_answers") or []
        if not isinstance(chosen, list):
            return None
        return Checklist(feature, tuple(a for a in map(_answer, chosen) if a))
    return None


def _object(value: Any, where: str) -> Annotation | None:
    if not isinstance(value, Mapping) or not value.get("name"):
        return None
    feature = str(value["name"])
    if isinstance(value.get("bounding_box"), Mapping):
        box = value["bounding_box"]
        at = f"{where}: box {feature!r}"
        return BoundingBox(feature, *(_number(box.get(k), f"{at} {k}")
                                      for k in ("top", "left", "height", "width")))
    if isinstance(value.get("location"), Mapping):
        location = value["location"]
        at = f"{where}: entity {feature!r}"
        start, end = _number(location.get("start"), at), _number(location.get("end"), at)
        return TextEntity(feature, int(start), int(end))
    return None


def _annotations(run: Mapping[str, Any], where: str) -> tuple[bool, tuple[Annotation, ...]]:
    labels = [label for label in _list(run.get("labels"), f"{where}: labels")
              if isinstance(label, Mapping)]
    found: list[Annotation] = []
    for label in labels:
        annotations = _mapping(label.get("annotations"), f"{where}: annotations")
        for value in _list(annotations.get("classifications"), f"{where}: classifications"):
            if (annotation := _classification(value)) is not None:
                found.append(annotation)
        for value in _list(annotations.get("objects"), f"{where}: objects"):
            if (annotation := _object(value, where)) is not None:
                found.append(annotation)
    return bool(labels), tuple(found)


def _dimension(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return int(value)


def read_row(row: Any, number: int, model_id: str | None, model_run_id: str) -> RowRef:
    data_row = row.get("data_row") if isinstance(row, Mapping) else None
    if not isinstance(data_row, Mapping) or not data_row.get("id"):
        raise ExportFormatError(f"export row {number}: no data_row.id")
    where = f"data row {data_row['id']}"
    row_data = data_row.get("row_data")
    if not isinstance(row_data, str):
        raise ExportFormatError(f"{where}: no row_data")
    run = _run_of(row, model_id, model_run_id, where)
    split = run.get("split")
    labelled, annotations = _annotations(run, where)
    media = _mapping(row.get("media_attributes"), f"{where}: media_attributes")
    return RowRef(
        data_row_id=str(data_row["id"]),
        row_data=row_data,
        mime_type=media.get("mime_type"),
        annotations=annotations,
        labelled=labelled,
        split=split if split in SPLITS else None,
        width=_dimension(media.get("width")),
        height=_dimension(media.get("height")),
    )


def read_rows(
    rows: Iterable[Mapping[str, Any]], model_id: str | None, model_run_id: str
) -> list[RowRef]:
    return [read_row(row, number, model_id, model_run_id)
            for number, row in enumerate(rows, start=1)]
