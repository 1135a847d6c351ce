"""Reading Labelbox export-v2 rows (what ``ModelRun.export`` streams) into training examples.

A row carries ``data_row`` {id, global_key, row_data (inline text or a URL)},
``media_attributes`` {mime_type, ...} and ``experiments[<modelId>].runs[<modelRunId>]`` with
``split`` and ``labels[].annotations.classifications`` (a radio answer is the class)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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
    label: str | None
    classification: str | None
    """The classification (ontology feature) name the label answers, e.g. ``sentiment``."""
    split: Split | None

    @property
    def is_url(self) -> bool:
        return self.row_data.startswith(("http://", "https://", "gs://", "s3://"))


def _run_of(row: Mapping[str, Any], model_id: str | None, model_run_id: str) -> Mapping[str, Any]:
    experiments = row.get("experiments") or {}
    candidates = [experiments[model_id]] if model_id in experiments else experiments.values()
    for experiment in candidates:
        runs = (experiment or {}).get("runs") or {}
        if model_run_id in runs:
            return runs[model_run_id] or {}
    return {}


def _first_radio_answer(run: Mapping[str, Any]) -> tuple[str | None, str | None]:
    for label in run.get("labels") or []:
        annotations = (label or {}).get("annotations") or {}
        for classification in annotations.get("classifications") or []:
            if not isinstance(classification, Mapping):
                continue
            answer = classification.get("radio_answer")
            if isinstance(answer, Mapping) and answer.get("name"):
                return str(answer["name"]), classification.get("name")
    return None, None


def read_rows(
    rows: Iterable[Mapping[str, Any]], model_id: str | None, model_run_id: str
) -> list[RowRef]:
    refs = []
    for number, row in enumerate(rows, start=1):
        data_row = row.get("data_row") if isinstance(row, Mapping) else None
        if not isinstance(data_row, Mapping) or not data_row.get("id"):
            raise ExportFormatError(f"export row {number}: no data_row.id")
        row_data = data_row.get("row_data")
        if not isinstance(row_data, str):
            raise ExportFormatError(f"export row {number} ({data_row['id']}): no row_data")
        run = _run_of(row, model_id, model_run_id)
        split = run.get("split")
        label, classification = _first_radio_answer(run)
        refs.append(
            RowRef(
                data_row_id=str(data_row["id"]),
                row_data=row_data,
                mime_type=(row.get("media_attributes") or {}).get("mime_type"),
                label=label,
                classification=classification,
                split=split if split in SPLITS else None,
            )
        )
    return refs
