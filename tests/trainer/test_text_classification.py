"""The built-in text pipeline really learns every radio question, respects Labelbox's
splits, and predicts every row."""

from __future__ import annotations

import pytest

from eventlog.contract import Answer, Radio
from services.trainer.baselines.radio import baseline
from services.trainer.pipeline import DataError, Example, assign_split
from services.trainer.pipelines.text_classification import TextClassification
from tests.trainer.datasets import label_of, radio_example, text_examples


def test_it_clears_the_quality_bar_the_most_frequent_answer_cannot() -> None:
    pipeline = TextClassification()
    dataset = pipeline.prepare(text_examples(300))

    model = pipeline.train(dataset)
    evaluation = pipeline.evaluate(model, dataset, pipeline.predict(model, dataset))
    constant = pipeline.evaluate(model, dataset, baseline(dataset))

    assert evaluation.split == "test" and evaluation.examples > 10
    assert evaluation.headline == "accuracy"
    assert evaluation.scores["accuracy"] >= 0.9 and evaluation.scores["macro_f1"] >= 0.9
    assert constant.scores["accuracy"] < 0.5 and constant.scores["macro_f1"] < 0.5


def test_confusion_counts_add_up_to_the_scored_examples() -> None:
    pipeline = TextClassification()
    dataset = pipeline.prepare(text_examples(300))
    model = pipeline.train(dataset)
    evaluation = pipeline.evaluate(model, dataset, pipeline.predict(model, dataset))

    confusion = evaluation.confusion["topic"]
    assert set(confusion) == {"finance", "sports", "weather"}
    assert sum(sum(row.values()) for row in confusion.values()) == evaluation.examples
    assert set(evaluation.per_class["f1"]) == {"topic/finance", "topic/sports", "topic/weather"}


def test_labelbox_splits_are_kept_and_unlabelled_rows_are_predicted_not_trained_on() -> None:
    pipeline = TextClassification()
    examples = text_examples(150, with_splits=True, unlabelled=20)
    dataset = pipeline.prepare(examples)

    assert [e.split for e in dataset.examples[:150]] == [e.split for e in examples[:150]]
    assert dataset.sizes["unlabelled"] == 20
    model = pipeline.train(dataset)
    predictions = pipeline.predict(model, dataset)
    assert [p.data_row_id for p in predictions] == [e.data_row_id for e in examples]
    for prediction in predictions:
        [answer] = prediction.annotations
        assert isinstance(answer, Radio) and answer.feature == "topic"
        assert answer.answer.name in {"finance", "sports", "weather"}
        assert answer.answer.confidence is not None and 0 < answer.answer.confidence <= 1
        assert prediction.confidence == answer.answer.confidence


def test_every_radio_question_is_learnt_from_the_rows_that_answered_it() -> None:
    pipeline = TextClassification()
    rows = []
    for example in text_examples(240):
        topic = label_of(example)
        long_text = len(str(example.content)) > 45
        annotations = [Radio("topic", Answer(str(topic)))]
        if int(example.data_row_id.split("-")[1]) % 3:  # a third never answered "length"
            annotations.append(Radio("length", Answer("long" if long_text else "short")))
        rows.append(Example(example.data_row_id, example.content, tuple(annotations), True))
    dataset = pipeline.prepare(rows)

    model = pipeline.train(dataset)
    predictions = pipeline.predict(model, dataset)

    assert all({a.feature for a in p.annotations} == {"topic", "length"} for p in predictions)
    evaluation = pipeline.evaluate(model, dataset, predictions)
    assert set(evaluation.confusion) == {"topic", "length"}
    assert sum(sum(r.values()) for r in evaluation.confusion["length"].values()) < \
        evaluation.examples  # rows that did not answer "length" are not scored on it


def test_a_missing_split_is_assigned_deterministically_80_10_10() -> None:
    splits = [assign_split(f"dr-{i}", None) for i in range(2000)]

    assert splits == [assign_split(f"dr-{i}", None) for i in range(2000)]
    assert 0.75 < splits.count("training") / 2000 < 0.85
    assert assign_split("dr-1", "test") == "test"


def test_training_needs_two_different_answers_to_some_question() -> None:
    pipeline = TextClassification()
    one_class = [radio_example(f"dr-{i}", "goal match", "sports", "training") for i in range(5)]

    with pytest.raises(DataError, match=r"at least 2 different answers.*'topic': 'sports'"):
        pipeline.train(pipeline.prepare(one_class))
