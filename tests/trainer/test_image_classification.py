"""The built-in image pipeline learns from the pixels of real encoded images."""

from __future__ import annotations

import pytest

from services.trainer.pipeline import Example, score
from services.trainer.pipelines.image_classification import ImageClassification
from tests.trainer.datasets import image_examples


def test_it_clears_the_quality_bar_a_constant_predictor_cannot() -> None:
    pipeline = ImageClassification()
    dataset = pipeline.prepare(image_examples(150))

    model = pipeline.train(dataset)
    evaluation = pipeline.evaluate(model, dataset)

    assert evaluation.examples >= 5
    assert evaluation.accuracy >= 0.9 and evaluation.macro_f1 >= 0.9
    truth = [e.label for e in dataset.examples if e.split == evaluation.split and e.label]
    assert score(evaluation.split, truth, [truth[0]] * len(truth), model.labels).accuracy < 0.6


def test_unlabelled_images_are_predicted_too() -> None:
    pipeline = ImageClassification()
    dataset = pipeline.prepare(image_examples(90, unlabelled=6))

    predictions = pipeline.predict(pipeline.train(dataset), dataset)

    assert len(predictions) == 96
    assert {p.label for p in predictions[-6:]} <= {"red", "green", "blue"}


def test_an_unreadable_image_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="img-x: not a readable image"):
        ImageClassification().prepare([Example("img-x", b"not an image", "red")])
