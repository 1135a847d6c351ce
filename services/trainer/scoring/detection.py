"""Mean average precision at IoU 0.5 (``map50``), as PASCAL VOC scores detectors.

Per class, the detections of every image are ranked by confidence; each is matched,
greedily in that order, to the ground-truth box of its class and image it overlaps most: a
true positive if that overlap reaches the IoU threshold and the box is not matched yet
(each ground-truth box is matched once, so a duplicate detection is a false positive),
else a false positive. AP is the area under the precision/recall curve with precision made
monotonic (VOC 2010+, every point). The mean is over the classes that have ground truth."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eventlog.contract import BoundingBox, iou

IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class DetectionScores:
    map50: float
    """Mean of ``ap50`` (0 when no image has a ground-truth box)."""
    ap50: dict[str, float]
    """AP per class, for every class with a ground-truth box."""


def mean_average_precision(
    truth: Sequence[Sequence[BoundingBox]],
    detections: Sequence[Sequence[BoundingBox]],
    *,
    iou_threshold: float = IOU_THRESHOLD,
) -> DetectionScores:
    """``truth[i]`` and ``detections[i]`` are image ``i``'s boxes; detections carry a
    confidence (missing counts as 0)."""
    if len(truth) != len(detections):
        raise ValueError(f"{len(truth)} images of ground truth but {len(detections)} of "
                         "detections")
    classes = sorted({box.feature for boxes in truth for box in boxes})
    ap50 = {feature: average_precision(truth, detections, feature,
                                       iou_threshold=iou_threshold) for feature in classes}
    return DetectionScores(sum(ap50.values()) / len(ap50) if ap50 else 0.0, ap50)


def average_precision(
    truth: Sequence[Sequence[BoundingBox]],
    detections: Sequence[Sequence[BoundingBox]],
    feature: str,
    *,
    iou_threshold: float = IOU_THRESHOLD,
) -> float:
    """AP of one class over all images (0 when it has no ground truth)."""
    expected = [[box for box in boxes if box.feature == feature] for boxes in truth]
    positives = sum(map(len, expected))
    if positives == 0:
        return 0.0
    ranked = sorted(
        ((box.confidence or 0.0, image, box)
         for image, boxes in enumerate(detections) for box in boxes if box.feature == feature),
        key=lambda ranked_box: -ranked_box[0],
    )
    matched = [[False] * len(boxes) for boxes in expected]
    hits: list[bool] = []
    for _, image, box in ranked:
        overlaps = [iou(box, other) for other in expected[image]]
        best = max(range(len(overlaps)), key=overlaps.__getitem__, default=None)
        hit = best is not None and overlaps[best] >= iou_threshold and not matched[image][best]
        if hit and best is not None:
            matched[image][best] = True
        hits.append(hit)
    return _area_under_curve(hits, positives)


def _area_under_curve(hits: Sequence[bool], positives: int) -> float:
    recalls, precisions = [0.0], [1.0]
    true_positives = 0
    for rank, hit in enumerate(hits, start=1):
        true_positives += hit
        recalls.append(true_positives / positives)
        precisions.append(true_positives / rank)
    # The precision envelope: the best precision at this recall or any higher one.
    for i in range(len(precisions) - 2, -1, -1):
        precisions[i] = max(precisions[i], precisions[i + 1])
    return sum((recalls[i] - recalls[i - 1]) * precisions[i] for i in range(1, len(recalls)))
