"""Predictions become exactly the NDJSON lines the SDK's own converter produces for each
annotation kind (``labelbox.data.serialization.NDJsonConverter``, SDK 7.17), with a stable
``uuid`` per line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from eventlog.contract import (
    Answer,
    BoundingBox,
    Checklist,
    Radio,
    TextEntity,
    annotation_line,
    metric_line,
    prediction_lines,
    to_ndjson,
)

lb_types = pytest.importorskip("labelbox.types")
converter = pytest.importorskip("labelbox.data.serialization.ndjson.converter")


def sdk_lines(*annotations: Any) -> list[dict[str, Any]]:
    label = lb_types.Label(data={"uid": "DR1"}, annotations=list(annotations))
    return [{k: v for k, v in line.items() if k != "uuid"}
            for line in converter.NDJsonConverter.serialize([label])]


def test_a_radio_answer_is_the_sdk_radio_line() -> None:
    ours = annotation_line(Radio("sentiment", Answer("pos", 0.7)), "DR1")

    assert [ours] == sdk_lines(lb_types.ClassificationAnnotation(
        name="sentiment",
        value=lb_types.Radio(answer=lb_types.ClassificationAnswer(name="pos", confidence=0.7))))


def test_checklist_answers_are_the_sdk_checklist_line() -> None:
    ours = annotation_line(Checklist("tags", (Answer("a", 0.7), Answer("b", 0.6))), "DR1")

    assert [ours] == sdk_lines(lb_types.ClassificationAnnotation(
        name="tags", value=lb_types.Checklist(answer=[
            lb_types.ClassificationAnswer(name="a", confidence=0.7),
            lb_types.ClassificationAnswer(name="b", confidence=0.6)])))


def test_a_bounding_box_is_the_sdk_rectangle_line_in_pixels() -> None:
    ours = annotation_line(BoundingBox("car", top=10, left=20, height=30, width=40,
                                       confidence=0.9), "DR1")

    assert [ours] == sdk_lines(lb_types.ObjectAnnotation(
        name="car", confidence=0.9, value=lb_types.Rectangle(
            start=lb_types.Point(x=20, y=10), end=lb_types.Point(x=60, y=40))))


def test_a_text_entity_is_the_sdk_entity_line_with_an_inclusive_end() -> None:
    ours = annotation_line(TextEntity("person", 5, 11, confidence=0.8), "DR1")

    assert [ours] == sdk_lines(lb_types.ObjectAnnotation(
        name="person", confidence=0.8, value=lb_types.TextEntity(start=5, end=11)))


def test_the_confidence_metric_is_the_sdk_scalar_metric_line() -> None:
    assert [metric_line("DR1", "confidence", 0.5)] == sdk_lines(
        lb_types.ScalarMetric(metric_name="confidence", value=0.5))


def test_a_rows_lines_have_stable_unique_uuids_and_its_metric_last() -> None:
    annotations = (BoundingBox("car", 1, 2, 3, 4, 0.9), BoundingBox("car", 5, 6, 7, 8, 0.4))

    lines = prediction_lines("run-1", "DR1", annotations, 0.9)

    assert lines == prediction_lines("run-1", "DR1", annotations, 0.9)
    assert len({line["uuid"] for line in lines}) == 3
    assert lines[-1]["metricName"] == "confidence"
    assert {line["uuid"] for line in lines}.isdisjoint(
        line["uuid"] for line in prediction_lines("run-2", "DR1", annotations, 0.9))
    assert [json.loads(x) for x in to_ndjson(lines).splitlines()] == lines


def test_an_empty_checklist_has_no_line_and_no_confidence_no_metric() -> None:
    assert prediction_lines("run-1", "DR1", (Checklist("tags", ()),), None) == []
