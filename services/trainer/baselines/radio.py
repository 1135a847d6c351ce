"""The radio baseline: every question answered with its most frequent training answer."""

from __future__ import annotations

from collections import Counter

from eventlog.contract import Answer, Radio
from services.trainer.pipeline import Dataset, Prediction
from services.trainer.pipelines.radio import answer_of, radio_questions


def baseline(dataset: Dataset) -> list[Prediction]:
    training = [e for e in dataset.examples if e.split == "training"]
    answers = []
    for feature in radio_questions(training):
        counts = Counter(a for e in training
                         if (a := answer_of(e.annotations, feature)) is not None)
        name, count = counts.most_common(1)[0]
        answers.append(Radio(feature, Answer(name, count / sum(counts.values()))))
    return [Prediction(e.data_row_id, tuple(answers), None) for e in dataset.examples]
