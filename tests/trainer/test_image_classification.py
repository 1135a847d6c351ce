"""The built-in image pipeline learns from the pixels of real encoded images."""

from __future__ import annotations

import pytest

from eventlog.contract import Radio
from services.trainer.baselines.radio import baseline
from services.trainer.pipeline import DataError
from services.trainer.pipelines.image_classification import ImageClassification
from tests.trainer.datasets import image_examples, radio_example


def test_it_clears_the_quality_bar_the_most_frequent_answer_cannot() -> None:
    pipeline = ImageClassification()
    dataset = pipeline.prepare(image_examples(150))

    model = pipeline.train(dataset)
    evaluation = pipeline.evaluate(model, dataset, pipeline.predict(model, dataset))
    constant = pipeline.evaluate(model, dataset, baseline(dataset))

    assert evaluation.examples >= 5
    assert evaluation.scores["accuracy"] >= 0.9 and evaluation.scores["macro_f1"] >= 0.9
    assert constant.scores["accuracy"] < 0.6


def test_unlabelled_images_are_predicted_too() -> None:
    pipeline = ImageClassification()
    dataset = pipeline.prepare(image_examples(90, unlabelled=6))

    predictions = pipeline.predict(pipeline.train(dataset), dataset)

    assert len(predictions) == 96
    answers = [a for p in predictions[-6:] for a in p.annotations]
    assert all(isinstance(a, Radio) and a.feature == "colour" for a in answers)
    assert {a.answer.name for a in answers if isinstance(a, Radio)} <= {"red", "green", "blue"}


def test_an_unreadable_image_is_named_in_the_error() -> None:
    with pytest.raises(DataError, match="img-x: not a readable image"):
        ImageClassification().prepare([radio_example("img-x", b"not an image", "red")])
