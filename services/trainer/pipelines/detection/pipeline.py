"""The ``bounding_box`` plug-in: reads the images, checks their boxes, fits a
:class:`~services.trainer.pipelines.detection.detector.Detector` and predicts every row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventlog.contract import BoundingBox
from services.trainer.pipeline import (
    DataError,
    Dataset,
    Evaluation,
    Example,
    Pipeline,
    Prediction,
    ProgressCallback,
    TrainedModel,
    evaluated_split,
    no_progress,
    split_sizes,
    with_splits,
)
from services.trainer.pipelines.detection.arrays import Array
from services.trainer.pipelines.detection.channels import ORIENTATIONS
from services.trainer.pipelines.detection.detector import Detector
from services.trainer.pipelines.detection.hard_negatives import HARD_NEGATIVES
from services.trainer.pipelines.detection.images import (
    MAX_SIDE,
    boxes_of,
    check_boxes,
    read_picture,
)
from services.trainer.pipelines.detection.training import TrainingSettings, fit_detector
from services.trainer.pipelines.detection.training_windows import BACKGROUND_IOU, POSITIVE_IOU
from services.trainer.pipelines.detection.window_sizes import COVERAGE
from services.trainer.pipelines.detection.windows import GRID, STRIDE_DIVISOR
from services.trainer.scoring.detection import mean_average_precision


class ObjectDetection(Pipeline):
    model_type = "bounding_box"
    media = "image"
    learns = "bounding_box"
    requires = ("sklearn", "threadpoolctl")
    extra = "detection"
    description = (
        "Object detection: sliding windows at k-means anchor sizes, aggregated channel "
        "features (colour, gradient magnitude and orientations), a logistic regression "
        "screen with hard-negative mining then gradient boosting, box regression, "
        "per-class non-maximum suppression"
    )

    def __init__(self, *, anchors: int = 6, mining_rounds: int = 2, c: float = 0.1,
                 iterations: int = 60, learning_rate: float = 0.25, screen_floor: float = 0.05,
                 keep: int = 300, score_floor: float = 0.05, nms_iou: float = 0.4,
                 max_detections: int = 40, seed: int = 0) -> None:
        self.anchors = anchors
        self.mining_rounds = mining_rounds
        self.c = c
        self.iterations = iterations
        self.learning_rate = learning_rate
        self.screen_floor = screen_floor
        self.keep = keep
        self.score_floor = score_floor
        self.nms_iou = nms_iou
        self.max_detections = max_detections
        self.seed = seed

    def prepare(self, examples: Sequence[Example]) -> Dataset:
        split = with_splits(examples)
        pictures = [read_picture(e) for e in split]
        for example, picture in zip(split, pictures, strict=True):
            check_boxes(example, picture)
        if not any(e.labelled and e.split == "training" and boxes_of(e) for e in split):
            raise DataError("no labelled training image has a bounding box: label objects "
                            "in images of the training split")
        return Dataset(examples=split, features=pictures, sizes=split_sizes(split))

    def train(self, dataset: Dataset, progress: ProgressCallback = no_progress) -> TrainedModel:
        """Reports ``mining_rounds + 2`` rounds, each with the log loss on its samples: the
        first screen, each mining round's screen, then the booster."""
        training = [(e, p) for e, p in zip(dataset.examples, dataset.features, strict=True)
                    if e.labelled and e.split == "training"]
        settings = TrainingSettings(self.anchors, self.mining_rounds, self.c, self.iterations,
                                    self.learning_rate, self.screen_floor, self.keep, self.seed)
        with _one_thread():
            detector = fit_detector(training, settings, progress)
        return TrainedModel(model=detector,
                            hyperparameters=self._hyperparameters(detector.anchors))

    def predict(self, model: TrainedModel, dataset: Dataset) -> list[Prediction]:
        """Up to ``max_detections`` boxes per image down to ``score_floor`` (mAP ranks the
        unsure ones too). A row's ``confidence`` is its most confident box's, 0.0 when it
        has none: every row gets a prediction line in Labelbox."""
        detector: Detector = model.model
        predictions = []
        with _one_thread():
            for example, picture in zip(dataset.examples, dataset.features, strict=True):
                boxes = detector.detect(picture, score_floor=self.score_floor,
                                        nms_iou=self.nms_iou,
                                        max_detections=self.max_detections)
                best = max((b.confidence or 0.0 for b in boxes), default=0.0)
                predictions.append(Prediction(example.data_row_id, tuple(boxes), best))
        return predictions

    def evaluate(self, model: TrainedModel, dataset: Dataset,
                 predictions: Sequence[Prediction]) -> Evaluation:
        split, scored = evaluated_split(dataset.examples)
        detected = {p.data_row_id: p.annotations for p in predictions}
        found = [[a for a in detected.get(e.data_row_id, ()) if isinstance(a, BoundingBox)]
                 for e in scored]
        scores = mean_average_precision([boxes_of(e) for e in scored], found)
        return Evaluation(split=split, examples=len(scored), scores={"map50": scores.map50},
                          headline="map50", per_class={"ap50": scores.ap50})

    def _hyperparameters(self, anchors: Array) -> dict[str, Any]:
        return {
            "windows": "sliding, at k-means (IoU) sizes of the training boxes",
            "anchors": [[int(w), int(h)] for w, h in anchors], "anchor_clusters": self.anchors,
            "coverage_iou": COVERAGE, "stride": f"1/{STRIDE_DIVISOR} of the shorter side",
            "max_side": MAX_SIDE, "grid": GRID, "orientations": ORIENTATIONS,
            "features": "means of opponent colour, gradient magnitude and orientation "
                        "channels over a grid of cells and a strip around each side, size",
            "screen": "logistic_regression", "C": self.c, "mining_rounds": self.mining_rounds,
            "hard_negatives_per_image": HARD_NEGATIVES, "positive_iou": POSITIVE_IOU,
            "background_iou": BACKGROUND_IOU, "classifier": "hist_gradient_boosting",
            "iterations": self.iterations, "learning_rate": self.learning_rate,
            "screen_floor": self.screen_floor, "windows_per_image_classified": self.keep,
            "box_refinement": "ridge regression per class", "nms_iou": self.nms_iou,
            "score_floor": self.score_floor, "max_detections": self.max_detections,
            "seed": self.seed,
        }


def _one_thread() -> Any:
    """Numpy, BLAS and scikit-learn's OpenMP on one thread: detection makes many small
    calls, each of which pays more to start threads than they save (on two busy cores,
    training took 10 s of CPU with them, 4 s without). The limit applies to the runtimes
    loaded when it is set, so scikit-learn's are loaded first."""
    import sklearn.ensemble  # noqa: F401
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)
