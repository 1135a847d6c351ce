"""The checklist baseline, "always the most frequent answers": per question, every option
ticked on more than half the training rows that answered it (if none is, the single most
frequent option), with its frequency as confidence, predicted for every row."""

from __future__ import annotations

from collections import Counter

from eventlog.contract import Answer, Checklist
from services.trainer.pipeline import Dataset, Prediction
from services.trainer.pipelines.checklist_truth import training_answers


def baseline(dataset: Dataset) -> list[Prediction]:
    answered: Counter[str] = Counter()
    ticks: dict[str, Counter[str]] = {}
    for answers in training_answers(dataset.examples).values():
        for feature, options in answers.items():
            answered[feature] += 1
            ticks.setdefault(feature, Counter()).update(options)
    checklists = tuple(
        Checklist(feature, _most_frequent(ticks[feature], answered[feature]))
        for feature in sorted(answered))
    return [Prediction(e.data_row_id, checklists, None) for e in dataset.examples]


def _most_frequent(ticks: Counter[str], rows: int) -> tuple[Answer, ...]:
    frequency = {option: count / rows for option, count in sorted(ticks.items())}
    common = [Answer(o, f) for o, f in frequency.items() if f > 0.5]
    if common or not frequency:
        return tuple(common)
    option = max(frequency, key=lambda o: frequency[o])  # the first by name among ties
    return (Answer(option, frequency[option]),)
