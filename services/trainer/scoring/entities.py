"""Scores of text entities, counted entity by entity: a predicted entity is right only if a
true entity of the same row has exactly its class, start and end (an off-by-one span and a
right span of the wrong class are both a miss and a false alarm). Micro precision, recall
and F1 over every entity, and F1 per class."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from eventlog.contract import TextEntity
from services.trainer.pipeline import Evaluation

Key = tuple[str, int, int]


def score_entities(
    split: str,
    truth: Mapping[str, Sequence[TextEntity]],
    guessed: Mapping[str, Sequence[TextEntity]],
) -> Evaluation:
    """``truth``: the scored rows' entities by data row id; ``guessed``: the predicted
    entities by data row id (a scored row missing from it predicted none)."""
    found: Counter[str] = Counter()
    missed: Counter[str] = Counter()
    extra: Counter[str] = Counter()
    for row, entities in truth.items():
        true, guess = _keys(entities), _keys(guessed.get(row, ()))
        found.update(feature for feature, _, _ in true & guess)
        missed.update(feature for feature, _, _ in true - guess)
        extra.update(feature for feature, _, _ in guess - true)
    classes = sorted(set(found) | set(missed) | set(extra))
    tp, fn, fp = found.total(), missed.total(), extra.total()
    return Evaluation(
        split=split, examples=len(truth),
        scores={"micro_f1": _f1(tp, fp, fn), "precision": _ratio(tp, tp + fp),
                "recall": _ratio(tp, tp + fn)},
        headline="micro_f1",
        per_class={"f1": {c: _f1(found[c], extra[c], missed[c]) for c in classes}},
    )


def _keys(entities: Sequence[TextEntity]) -> set[Key]:
    return {(e.feature, e.start, e.end) for e in entities}


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _f1(tp: int, fp: int, fn: int) -> float:
    return _ratio(2 * tp, 2 * tp + fp + fn)
