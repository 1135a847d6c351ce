"""Labelbox annotations, typed by kind: what a pipeline learns from (ground truth read from
the export) and what it predicts (the same types, each with a confidence).

The four kinds the reference's six model types use (``../LABELBOX_WIRE.md``): a radio answer
and checklist answers (classifications), a bounding box and a text entity (objects). A
``feature`` is the ontology feature's name (``sentiment``, ``car``, ``person``); Labelbox
matches predictions to ground truth by it, so it is carried exactly as exported."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AnnotationKind = Literal["radio", "checklist", "bounding_box", "text_entity"]
KIND_NAMES: dict[AnnotationKind, str] = {
    "radio": "radio answers",
    "checklist": "checklist answers",
    "bounding_box": "bounding boxes",
    "text_entity": "text entities",
}


@dataclass(frozen=True)
class Answer:
    """One answer of a radio or checklist question; ``confidence`` only on predictions."""

    name: str
    confidence: float | None = None


@dataclass(frozen=True)
class Radio:
    feature: str
    answer: Answer

    @property
    def kind(self) -> AnnotationKind:
        return "radio"


@dataclass(frozen=True)
class Checklist:
    feature: str
    answers: tuple[Answer, ...]

    @property
    def kind(self) -> AnnotationKind:
        return "checklist"


@dataclass(frozen=True)
class BoundingBox:
    """In pixels from the image's top-left corner, as Labelbox exports and imports them."""

    feature: str
    top: float
    left: float
    height: float
    width: float
    confidence: float | None = None

    @property
    def kind(self) -> AnnotationKind:
        return "bounding_box"

    @property
    def bottom(self) -> float:
        return self.top + self.height

    @property
    def right(self) -> float:
        return self.left + self.width


@dataclass(frozen=True)
class TextEntity:
    """Characters ``start`` to ``end`` of the text, both INCLUSIVE (Labelbox's convention,
    in the export and in predictions): ``text[start : end + 1]`` is the entity."""

    feature: str
    start: int
    end: int
    confidence: float | None = None

    @property
    def kind(self) -> AnnotationKind:
        return "text_entity"


Annotation = Radio | Checklist | BoundingBox | TextEntity


def iou(a: BoundingBox, b: BoundingBox) -> float:
    """Intersection over union of two boxes (0 when either has no area)."""
    width = min(a.right, b.right) - max(a.left, b.left)
    height = min(a.bottom, b.bottom) - max(a.top, b.top)
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0
