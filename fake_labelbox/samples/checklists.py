"""Checklist (multi-label) model runs' exports, with two checklist questions each, as a
Labelbox user who ticks "all that apply" exports them.

Text: support tickets (``ticket_text``) answering ``topics`` (one to three of billing,
shipping, account, bug, feature_request) and ``flags`` (any of urgent, refund, churn_risk,
often none). Images: noisy 64 to 96 px pictures (``shape_images``) answering ``shapes``
(one to three of circle, square, triangle, stripes) and ``colours`` (those of the shapes).

Like real labelling, the second question is optional: it is unanswered on about a third of
the labelled rows (the row is then unlabelled for it, which is not "none of these"), and the
first is skipped now and then. Annotators also miss things: now and then an option the row
shows is left unticked. About one row in ten has no label in the model run at all: it is
predicted, never trained on. Splits are 80/10/10 (``split_of``)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from fake_labelbox.samples.export_row import (
    Row,
    SampleExport,
    checklist,
    export_row,
    split_of,
)
from fake_labelbox.samples.shape_images import COLOURS, SHAPES, shape_image
from fake_labelbox.samples.ticket_text import FLAG_RATES, TOPIC_PHRASES, flags_for, ticket

TOPICS = tuple(TOPIC_PHRASES)
FLAGS = tuple(FLAG_RATES)
TEXT_QUESTIONS: dict[str, tuple[str, ...]] = {"topics": TOPICS, "flags": FLAGS}
IMAGE_QUESTIONS: dict[str, tuple[str, ...]] = {"shapes": SHAPES, "colours": tuple(COLOURS)}
UNLABELLED_SHARE = 0.1
SECOND_QUESTION_SKIPPED = 0.35
FIRST_QUESTION_SKIPPED = 0.05
MISSED_TICK = 0.03
"""The chance that an annotator leaves an option the row shows unticked."""


def text_checklist_export(model_id: str, model_run_id: str, *, base_url: str = "",
                          count: int = 400, seed: int = 0) -> SampleExport:
    """Support tickets inline in ``row_data`` (``base_url`` is unused: text needs no file)."""
    rng = random.Random(seed)
    rows: list[Row] = []
    for index in range(count):
        topics = sorted(rng.sample(TOPICS, rng.choice((1, 1, 2, 2, 3))))
        flags = flags_for(rng, topics)
        rows.append(export_row(
            model_id, model_run_id,
            data_row_id=f"ticket-{seed}-{index:04d}",
            global_key=f"tickets/{seed}/{index:04d}.txt",
            row_data=ticket(rng, topics, flags),
            split=split_of(index, count),
            classifications=_answers(rng, ("topics", topics), ("flags", flags)),
            labelled=rng.random() >= UNLABELLED_SHARE,
        ))
    return SampleExport(rows=rows)


def image_checklist_export(model_id: str, model_run_id: str, *, base_url: str = "",
                           count: int = 300, seed: int = 0) -> SampleExport:
    rng = random.Random(seed)
    rows: list[Row] = []
    files: dict[str, bytes] = {}
    for index in range(count):
        width, height = rng.randint(64, 96), rng.randint(64, 96)
        png, drawn = shape_image(rng, width, height,
                                 rng.sample(SHAPES, rng.choice((1, 2, 2, 3))))
        path = f"/media/shapes-{seed}-{index:04d}.png"
        files[path] = png
        rows.append(export_row(
            model_id, model_run_id,
            data_row_id=f"shapes-{seed}-{index:04d}",
            global_key=f"shapes/{seed}/{index:04d}.png",
            row_data=f"{base_url}{path}",
            split=split_of(index, count),
            classifications=_answers(
                rng, ("shapes", sorted({d.shape for d in drawn})),
                ("colours", sorted({d.colour for d in drawn}))),
            labelled=rng.random() >= UNLABELLED_SHARE,
            media={"mime_type": "image/png", "width": width, "height": height},
        ))
    return SampleExport(rows=rows, files=files)


def _answers(rng: random.Random, first: tuple[str, Sequence[str]],
             second: tuple[str, Sequence[str]]) -> list[Row]:
    """The answered questions of a row: the second is optional, the first rarely skipped."""
    answered = []
    for (feature, options), skipped in ((first, FIRST_QUESTION_SKIPPED),
                                        (second, SECOND_QUESTION_SKIPPED)):
        if rng.random() >= skipped:
            answered.append(checklist(feature, [o for o in options
                                                if rng.random() >= MISSED_TICK]))
    return answered
