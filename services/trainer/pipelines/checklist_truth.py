"""The checklist ground truth of data rows, as the checklist pipelines, their baseline and
their scoring read it: which questions a row answered, and which options it ticked.

A question a labelled row did not answer leaves the row unlabelled for that question; an
answered question with no option ticked is a real answer ("none of these")."""

from __future__ import annotations

from collections.abc import Sequence

from eventlog.contract import Checklist
from services.trainer.pipeline import DataError, Example


def ticked(example: Example) -> dict[str, frozenset[str]]:
    """The options ticked per question the row answered (none for an unlabelled row)."""
    if not example.labelled:
        return {}
    answers: dict[str, set[str]] = {}
    for annotation in example.annotations:
        if isinstance(annotation, Checklist):
            answers.setdefault(annotation.feature, set()).update(
                a.name for a in annotation.answers)
    return {feature: frozenset(options) for feature, options in answers.items()}


def training_answers(examples: Sequence[Example]) -> dict[int, dict[str, frozenset[str]]]:
    """The answers of each labelled training row that answered a checklist question, by
    the row's position in ``examples``."""
    return {i: answers for i, e in enumerate(examples)
            if e.split == "training" and (answers := ticked(e))}


def questions(examples: Sequence[Example]) -> dict[str, tuple[str, ...]]:
    """Each checklist question answered on a labelled training row, with the options ever
    ticked there (sorted): what a model can learn."""
    options: dict[str, set[str]] = {}
    for answers in training_answers(examples).values():
        for feature, ticked_options in answers.items():
            options.setdefault(feature, set()).update(ticked_options)
    return {feature: tuple(sorted(options[feature])) for feature in sorted(options)}


def check_learnable(examples: Sequence[Example]) -> None:
    """Raise :class:`DataError` unless some labelled training row answers a checklist."""
    if questions(examples):
        return
    answered = [e.data_row_id for e in examples if ticked(e)]
    if not answered:
        raise DataError("no checklist answers in the model run's labels: a checklist model "
                        f"learns from rows that answer a checklist question ({len(examples)} "
                        "rows)")
    raise DataError(f"no training row answers a checklist question: the rows that do "
                    f"(e.g. data row {answered[0]}, {len(answered)} in all) are all in "
                    "validation or test")
