"""Scores of checklist answers. Each (data row, question, option) is a yes/no decision,
scored only on the rows that answered the question (an unanswered question is not "none of
these"): micro-F1 over all decisions (the headline), F1 per option (``<question>/<option>``)
and their mean (macro-F1), and the share of answered questions whose ticked options were
predicted exactly.

Only the options ticked in the truth or in a prediction on the scored rows are scored; when
nothing was ticked on either side, the predictions are perfect (F1 1). When no scored row
answered a checklist question, every score is 0 (and ``examples`` 0)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from eventlog.contract import Checklist
from services.trainer.pipeline import Evaluation, Example, Prediction
from services.trainer.pipelines.checklist_truth import ticked


@dataclass
class Decisions:
    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0

    def add(self, truth: bool, predicted: bool) -> None:
        self.true_positive += truth and predicted
        self.false_positive += predicted and not truth
        self.false_negative += truth and not predicted

    @property
    def f1(self) -> float:
        wrong = self.false_positive + self.false_negative
        return 2 * self.true_positive / (2 * self.true_positive + wrong) if wrong else 1.0


def predicted_options(prediction: Prediction | None) -> dict[str, frozenset[str]]:
    """The options predicted per question (none without a prediction)."""
    answers: dict[str, set[str]] = {}
    for annotation in prediction.annotations if prediction else ():
        if isinstance(annotation, Checklist):
            answers.setdefault(annotation.feature, set()).update(
                a.name for a in annotation.answers)
    return {feature: frozenset(options) for feature, options in answers.items()}


def score_checklists(split: str, examples: Sequence[Example],
                     predictions: Iterable[Prediction]) -> Evaluation:
    """``examples``: the held-out labelled rows; ``predictions``: at least theirs (a row
    without a prediction predicted nothing)."""
    by_row = {p.data_row_id: p for p in predictions}
    per_option: dict[str, Decisions] = {}
    exact: list[bool] = []
    scored_rows = 0
    for example in examples:
        truth = ticked(example)
        guess = predicted_options(by_row.get(example.data_row_id))
        scored_rows += bool(truth)
        for feature, true in truth.items():
            guessed = guess.get(feature, frozenset())
            exact.append(true == guessed)
            for option in true | guessed:
                per_option.setdefault(f"{feature}/{option}", Decisions()).add(
                    option in true, option in guessed)
    if not exact:
        return Evaluation(split=split, examples=0, headline="micro_f1",
                          scores={"micro_f1": 0.0, "macro_f1": 0.0, "exact_match": 0.0})
    decisions = per_option.values()
    micro = Decisions(sum(d.true_positive for d in decisions),
                      sum(d.false_positive for d in decisions),
                      sum(d.false_negative for d in decisions)).f1
    f1 = {name: per_option[name].f1 for name in sorted(per_option)}
    return Evaluation(
        split=split, examples=scored_rows, headline="micro_f1", per_class={"f1": f1},
        scores={"micro_f1": micro, "macro_f1": sum(f1.values()) / len(f1) if f1 else micro,
                "exact_match": sum(exact) / len(exact)},
    )
