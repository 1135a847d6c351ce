"""The ``bounding_box`` model type: on a generated street-scene export it finds cars, people
and signs it never saw (mAP@0.5 on the test split) where one centred box of the mean size
finds nothing; it predicts every row with boxes of the ontology's classes inside the image
and a confidence (0.0 for a row without a box); it reports its training rounds; its model
pickles and is deterministic; bad data fails with one line naming the row; and mAP is
scored as PASCAL VOC scores it."""

from __future__ import annotations

import io
import json
import pickle
import time
from dataclasses import dataclass

import pytest

from eventlog.contract import Answer, BoundingBox, Radio, iou
from fake_labelbox.samples.detection import CLASSES, detection_export
from services.trainer.baselines.detection import baseline
from services.trainer.pipeline import (
    DataError,
    Dataset,
    Example,
    Prediction,
    Progress,
    TrainedModel,
)
from services.trainer.pipelines.detection import ObjectDetection
from services.trainer.scoring.detection import mean_average_precision
from tests.trainer.datasets import plain_png
from tests.trainer.exported import BASE_URL, MODEL_ID, MODEL_RUN_ID, examples_from


def _size(content: str | bytes) -> tuple[int, int]:
    from PIL import Image

    assert isinstance(content, bytes)
    width, height = Image.open(io.BytesIO(content)).size
    return width, height


@dataclass
class Trained:
    pipeline: ObjectDetection
    dataset: Dataset
    model: TrainedModel
    progress: list[Progress]
    predictions: list[Prediction]
    seconds: float


@pytest.fixture(scope="module")
def trained() -> Trained:
    pipeline = ObjectDetection()
    export = detection_export(MODEL_ID, MODEL_RUN_ID, base_url=BASE_URL)
    dataset = pipeline.prepare(examples_from(export, "image"))
    progress: list[Progress] = []
    started = time.process_time()
    model = pipeline.train(dataset, progress.append)
    seconds = time.process_time() - started
    return Trained(pipeline, dataset, model, progress, pipeline.predict(model, dataset), seconds)


def test_it_finds_objects_where_a_centred_box_of_the_mean_size_finds_none(
        trained: Trained) -> None:
    evaluation = trained.pipeline.evaluate(trained.model, trained.dataset, trained.predictions)
    trivial = trained.pipeline.evaluate(trained.model, trained.dataset,
                                        baseline(trained.dataset))
    print(f"\nbounding_box: {evaluation.scores} per class {evaluation.per_class} on "
          f"{evaluation.examples} {evaluation.split} images; baseline {trivial.scores}; "
          f"training {trained.seconds:.2f} s CPU")

    assert evaluation.split == trivial.split == "test" and evaluation.examples >= 8
    assert evaluation.headline == "map50"
    assert evaluation.scores["map50"] >= 0.7
    assert set(evaluation.per_class["ap50"]) == set(CLASSES)
    assert min(evaluation.per_class["ap50"].values()) >= 0.5
    assert trivial.scores["map50"] < 0.1


def test_every_data_row_is_predicted_unlabelled_ones_too(trained: Trained) -> None:
    rows = [e.data_row_id for e in trained.dataset.examples]

    assert [p.data_row_id for p in trained.predictions] == rows
    assert trained.dataset.sizes["unlabelled"] > 0


def test_predicted_boxes_lie_in_the_image_and_carry_a_confidence(trained: Trained) -> None:
    sizes = {e.data_row_id: _size(e.content) for e in trained.dataset.examples}
    for prediction in trained.predictions:
        width, height = sizes[prediction.data_row_id]
        confidences = []
        for box in prediction.annotations:
            assert isinstance(box, BoundingBox) and box.confidence is not None
            assert 0 <= box.confidence <= 1
            assert 0 <= box.left < box.right <= width and 0 <= box.top < box.bottom <= height
            confidences.append(box.confidence)
        assert prediction.confidence == max(confidences, default=0.0)
    assert sum(len(p.annotations) for p in trained.predictions) > len(trained.predictions)


def test_an_image_without_a_detection_still_has_a_confidence_of_zero(
        trained: Trained) -> None:
    labelled = Example("dr-1", plain_png(64, 48), (BoundingBox("car", 1, 1, 20, 30),), True,
                       "training")
    blank = Example("dr-blank", plain_png(160, 120), (), False, "test")
    dataset = trained.pipeline.prepare([labelled, blank])

    prediction = trained.pipeline.predict(trained.model, dataset)[1]

    assert prediction.data_row_id == "dr-blank" and prediction.annotations == ()
    assert isinstance(prediction.confidence, float) and prediction.confidence == 0.0


def test_a_banner_thinner_than_any_window_is_predicted_empty_not_a_crash(
        trained: Trained) -> None:
    labelled = Example("dr-1", plain_png(64, 48), (BoundingBox("car", 1, 1, 20, 30),), True,
                       "training")
    banner = Example("dr-banner", plain_png(2000, 3), (), False, "test")
    dataset = trained.pipeline.prepare([labelled, banner])

    prediction = trained.pipeline.predict(trained.model, dataset)[1]

    assert (prediction.data_row_id, prediction.annotations) == ("dr-banner", ())
    assert prediction.confidence == 0.0


def test_training_passes_over_a_banner_thinner_than_any_window() -> None:

    pipeline = ObjectDetection()
    examples = examples_from(detection_export(MODEL_ID, MODEL_RUN_ID, base_url=BASE_URL,
                                              count=40), "image")
    banner = Example("dr-banner", plain_png(900, 2), (), True, "training")
    dataset = pipeline.prepare([*examples, banner])

    model = pipeline.train(dataset)

    assert len(pipeline.predict(model, dataset)) == len(examples) + 1


def test_predicted_feature_names_are_exactly_the_ontology_classes(trained: Trained) -> None:
    predicted = {a.feature for p in trained.predictions for a in p.annotations}
    labelled = {a.feature for e in trained.dataset.examples for a in e.annotations}

    assert predicted == labelled == set(CLASSES)


def test_found_objects_are_more_confident_than_false_alarms(trained: Trained) -> None:
    truth = {e.data_row_id: e.annotations for e in trained.dataset.examples
             if e.split != "training" and e.labelled}
    hits: list[float] = []
    false_alarms: list[float] = []
    for prediction in trained.predictions:
        for box in prediction.annotations if prediction.data_row_id in truth else ():
            assert isinstance(box, BoundingBox)
            hit = any(isinstance(t, BoundingBox) and t.feature == box.feature
                      and iou(t, box) >= 0.5 for t in truth[prediction.data_row_id])
            (hits if hit else false_alarms).append(box.confidence or 0.0)

    assert hits and false_alarms
    assert sum(hits) / len(hits) > sum(false_alarms) / len(false_alarms) + 0.3


def test_training_reports_each_round_with_its_loss(trained: Trained) -> None:
    rounds = trained.model.hyperparameters["mining_rounds"] + 2

    assert [p.step for p in trained.progress] == list(range(1, rounds + 1))
    assert {(p.total, p.unit) for p in trained.progress} == {(rounds, "round")}
    assert all(p.loss is not None and p.loss >= 0 for p in trained.progress)


def test_hyperparameters_are_json_values(trained: Trained) -> None:
    hyperparameters = trained.model.hyperparameters

    assert json.loads(json.dumps(hyperparameters)) == hyperparameters
    assert {"anchors", "mining_rounds", "nms_iou", "score_floor"} <= set(hyperparameters)


def test_the_model_survives_a_pickle_round_trip_and_predicts_the_same(
        trained: Trained) -> None:
    restored = pickle.loads(pickle.dumps(trained.model))
    some = Dataset(trained.dataset.examples[:20], trained.dataset.features[:20])

    assert trained.pipeline.predict(restored, some) == trained.predictions[:20]


def test_training_is_deterministic() -> None:
    pipeline = ObjectDetection()
    dataset = pipeline.prepare(examples_from(
        detection_export(MODEL_ID, MODEL_RUN_ID, base_url=BASE_URL, count=20, seed=5), "image"))

    first = pipeline.predict(pipeline.train(dataset), dataset)
    second = pipeline.predict(pipeline.train(dataset), dataset)

    assert first == second


def test_the_sample_export_looks_like_a_labelled_street_scene_project() -> None:
    export = detection_export(MODEL_ID, MODEL_RUN_ID, base_url=BASE_URL)
    examples = examples_from(export, "image")
    splits = [row["experiments"][MODEL_ID]["runs"][MODEL_RUN_ID]["split"] for row in export.rows]
    boxes_per_image = [len(e.annotations) for e in examples if e.labelled]

    for row, example in zip(export.rows, examples, strict=True):
        media = row["media_attributes"]
        assert media["mime_type"] == "image/png"
        assert _size(example.content) == (media["width"], media["height"])
        for box in example.annotations:
            assert isinstance(box, BoundingBox) and box.width > 0 and box.height > 0
            assert box.left >= 0 and box.right <= media["width"]
            assert box.top >= 0 and box.bottom <= media["height"]
    assert {a.feature for e in examples for a in e.annotations} == set(CLASSES)
    assert 0 < sum(not e.labelled for e in examples) < len(examples) // 5
    assert min(boxes_per_image) == 0 and max(boxes_per_image) >= 3
    assert [splits.count(s) for s in ("training", "validation", "test")] == [96, 12, 12]


def test_other_annotation_kinds_are_ignored_and_images_without_boxes_are_negatives() -> None:
    image = plain_png(64, 48)
    rows = [Example("dr-1", image, (Radio("weather", Answer("sunny")),), True, "training"),
            Example("dr-2", image, (BoundingBox("car", 10, 12, 16, 24),), True, "training"),
            Example("dr-3", image, (), False)]
    pipeline = ObjectDetection()
    dataset = pipeline.prepare(rows)

    predictions = pipeline.predict(pipeline.train(dataset), dataset)

    assert len(predictions) == 3
    assert {a.feature for p in predictions for a in p.annotations} <= {"car"}


def test_a_box_an_annotator_drew_a_pixel_past_the_edge_is_accepted() -> None:
    rows = [Example("dr-1", plain_png(64, 48), (BoundingBox("car", -1, 40, 49, 25),), True,
                    "training")]

    assert ObjectDetection().prepare(rows).sizes["training"] == 1


BAD_ROWS = [
    pytest.param(BoundingBox("car", 10, 10, 20, -5), r"^data row dr-7: box 'car' has a negative "
                 r"width \(-5\)$", id="negative width"),
    pytest.param(BoundingBox("sign", 10, 10, 0, 8), r"^data row dr-7: box 'sign' has a zero "
                 r"height \(0\)$", id="zero height"),
    pytest.param(BoundingBox("person", 30, 50, 30, 20), r"^data row dr-7: box 'person' \(left "
                 r"50, top 30, width 20, height 30\) lies outside the 64x48 image$",
                 id="beyond the bottom right"),
    pytest.param(BoundingBox("car", -3, 0, 10, 10), r"^data row dr-7: box 'car' .* lies "
                 r"outside the 64x48 image$", id="above the top"),
]


@pytest.mark.parametrize(("box", "message"), BAD_ROWS)
def test_a_bad_box_fails_with_one_line_naming_the_data_row_and_the_class(
        box: BoundingBox, message: str) -> None:
    good = Example("dr-1", plain_png(64, 48), (BoundingBox("car", 1, 1, 20, 30),), True, "training")
    bad = Example("dr-7", plain_png(64, 48), (box,), True, "validation")

    with pytest.raises(DataError, match=message) as raised:
        ObjectDetection().prepare([good, bad])
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("content", [b"not an image", b"", "some text"],
                         ids=["garbage bytes", "empty", "text"])
def test_an_unreadable_image_fails_with_one_line_naming_the_data_row(
        content: str | bytes) -> None:
    good = Example("dr-1", plain_png(64, 48), (BoundingBox("car", 1, 1, 20, 30),), True, "training")
    bad = Example("dr-7", content, (), False)

    with pytest.raises(DataError, match=r"^data row dr-7: ") as raised:
        ObjectDetection().prepare([good, bad])
    assert "\n" not in str(raised.value)


def test_a_truncated_image_fails_with_one_line_naming_the_data_row() -> None:
    good = Example("dr-1", plain_png(64, 48), (BoundingBox("car", 1, 1, 20, 30),), True, "training")
    bad = Example("dr-7", plain_png(64, 48)[:-40], (), False)

    with pytest.raises(DataError, match=r"^data row dr-7: not a readable image") as raised:
        ObjectDetection().prepare([good, bad])
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("rows", [
    [Example("dr-1", plain_png(64, 48), (), True, "training")],
    [Example("dr-1", plain_png(64, 48), (BoundingBox("car", 1, 1, 20, 30),), True, "test"),
     Example("dr-2", plain_png(64, 48), (), False, "training")],
], ids=["no boxes", "boxes only outside the training split"])
def test_no_labelled_training_image_with_a_box_fails_clearly(rows: list[Example]) -> None:
    with pytest.raises(DataError, match=r"^no labelled training image has a bounding box"):
        ObjectDetection().prepare(rows)


# --- scoring ---------------------------------------------------------------------------


def box(feature: str, left: float, top: float, size: float = 10.0,
        confidence: float | None = None) -> BoundingBox:
    return BoundingBox(feature, top=top, left=left, height=size, width=size,
                       confidence=confidence)


def test_perfect_detections_score_one_for_every_class() -> None:
    truth = [[box("car", 0, 0), box("sign", 20, 20)], [box("car", 5, 5)]]
    detections = [[box(b.feature, b.left, b.top, confidence=0.9) for b in image]
                  for image in truth]

    scores = mean_average_precision(truth, detections)

    assert scores.map50 == 1.0 and scores.ap50 == {"car": 1.0, "sign": 1.0}


def test_a_box_overlapping_less_than_half_is_a_miss() -> None:
    truth = [[box("car", 0, 0)]]
    shifted = [[box("car", 4, 0, confidence=0.9)]]  # IoU 60 / 140 = 0.43
    close = [[box("car", 2, 0, confidence=0.9)]]  # IoU 80 / 120 = 0.67

    assert mean_average_precision(truth, shifted).map50 == 0.0
    assert mean_average_precision(truth, close).map50 == 1.0


def test_a_box_of_the_wrong_class_is_a_miss() -> None:
    scores = mean_average_precision([[box("car", 0, 0)]], [[box("sign", 0, 0, confidence=1)]])

    assert scores.ap50 == {"car": 0.0}


def test_a_duplicate_detection_is_a_false_positive() -> None:
    truth = [[box("car", 0, 0), box("car", 50, 50)]]
    once = [[box("car", 0, 0, confidence=0.9), box("car", 50, 50, confidence=0.7)]]
    twice = [[box("car", 0, 0, confidence=0.9), box("car", 0, 0, confidence=0.8),
              box("car", 50, 50, confidence=0.7)]]

    # Ranked hit, duplicate, hit: precision 1 up to recall 1/2, then 2/3 up to recall 1.
    assert mean_average_precision(truth, once).map50 == 1.0
    assert mean_average_precision(truth, twice).map50 == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_confident_false_alarms_cost_more_than_unsure_ones() -> None:
    truth = [[box("car", 0, 0)], []]
    unsure = [[box("car", 0, 0, confidence=0.9)], [box("car", 30, 30, confidence=0.1)]]
    confident = [[box("car", 0, 0, confidence=0.9)], [box("car", 30, 30, confidence=0.95)]]

    assert mean_average_precision(truth, unsure).map50 == 1.0
    assert mean_average_precision(truth, confident).map50 == 0.5


def test_the_mean_is_over_classes_with_ground_truth() -> None:
    truth = [[box("car", 0, 0)], [box("person", 0, 0)]]
    detections = [[box("car", 0, 0, confidence=0.9), box("sign", 30, 30, confidence=0.9)], []]

    scores = mean_average_precision(truth, detections)

    assert scores.ap50 == {"car": 1.0, "person": 0.0} and scores.map50 == 0.5
