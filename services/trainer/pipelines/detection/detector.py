"""A trained detector, and how it finds the objects in a picture: every window through the
cascade, the likely ones refined onto their boxes, then non-maximum suppression class by
class."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventlog.contract import BoundingBox
from services.trainer.pipelines.detection.arrays import Array
from services.trainer.pipelines.detection.boxes import non_maximum_suppression, refined
from services.trainer.pipelines.detection.channels import image_channels
from services.trainer.pipelines.detection.classifiers import Cascade
from services.trainer.pipelines.detection.images import Picture, box_in_pixels
from services.trainer.pipelines.detection.window_features import scan
from services.trainer.pipelines.detection.windows import pad_for


@dataclass
class Detector:
    classes: list[str]
    anchors: Array
    """(k, 2) window widths and heights at working scale."""
    cascade: Cascade
    refiners: dict[int, Any]
    """Per class (1-based; 0 is background): a ridge regression to the box's offsets."""

    def detect(self, picture: Picture, *, score_floor: float, nms_iou: float,
               max_detections: int) -> list[BoundingBox]:
        """The ``max_detections`` most confident boxes down to ``score_floor``, best first."""
        channels = image_channels(picture.rgb, pad_for(self.anchors))
        windows, features = scan(channels, self.anchors)
        if not len(windows):
            return []
        rows, probabilities = self.cascade.probabilities(features)
        found: list[tuple[float, str, Array]] = []
        for label in range(1, probabilities.shape[1]):
            keep = probabilities[:, label] >= score_floor
            if not keep.any():
                continue
            boxes = windows[rows[keep]].astype(float)
            if label in self.refiners:
                boxes = refined(boxes, self.refiners[label].predict(features[rows[keep]]))
            scores = probabilities[keep, label]
            for index in non_maximum_suppression(boxes, scores, nms_iou):
                found.append((float(scores[index]), self.classes[label - 1], boxes[index]))
        found.sort(key=lambda f: -f[0])
        return [box_in_pixels(box, feature, score, picture)
                for score, feature, box in found[:max_detections]]
