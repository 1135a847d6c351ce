"""The built-in text pipeline really learns, respects Labelbox's splits, and predicts every row."""

from __future__ import annotations

import pytest

from services.trainer.pipeline import Example, assign_split, score
from services.trainer.pipelines.text_classification import TextClassification
from tests.trainer.datasets import text_examples


def test_it_clears_the_quality_bar_a_constant_predictor_cannot() -> None:
    pipeline = TextClassification()
    dataset = pipeline.prepare(text_examples(300))

    model = pipeline.train(dataset)
    evaluation = pipeline.evaluate(model, dataset)

    assert evaluation.split == "test" and evaluation.examples > 10
    assert evaluation.accuracy >= 0.9
    assert evaluation.macro_f1 >= 0.9
    truth = [e.label for e in dataset.examples if e.split == "test" and e.label]
    constant = score("test", truth, [truth[0]] * len(truth), model.labels)
    assert constant.accuracy < 0.5 and constant.macro_f1 < 0.5


def test_confusion_counts_add_up_to_the_scored_examples() -> None:
    pipeline = TextClassification()
    dataset = pipeline.prepare(text_examples(300))
    evaluation = pipeline.evaluate(pipeline.train(dataset), dataset)

    assert set(evaluation.confusion) == {"finance", "sports", "weather"}
    assert sum(sum(row.values()) for row in evaluation.confusion.values()) == evaluation.examples


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
        assert prediction.label in {"finance", "sports", "weather"}
        assert 0 < prediction.confidence <= 1
        assert prediction.confidence == max(prediction.scores.values())
        assert sum(prediction.scores.values()) == pytest.approx(1)


def test_a_missing_split_is_assigned_deterministically_80_10_10() -> None:
    splits = [assign_split(f"dr-{i}", None) for i in range(2000)]

    assert splits == [assign_split(f"dr-{i}", None) for i in range(2000)]
    assert 0.75 < splits.count("training") / 2000 < 0.85
    assert assign_split("dr-1", "test") == "test"


def test_training_needs_two_labelled_classes() -> None:
    pipeline = TextClassification()
    one_class = [Example(f"dr-{i}", "goal match", "sports", "training") for i in range(5)]

    with pytest.raises(ValueError, match="at least 2 labelled classes"):
        pipeline.train(pipeline.prepare(one_class))
