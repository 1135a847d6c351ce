"""The windows a detector first learns from: per training image, the windows that fit a
box, the boxes themselves (also jittered), and background windows, each with its label
and the offsets to its box."""

from __future__ import annotations

from typing import Any

from services.trainer.pipelines.detection.arrays import Array
from services.trainer.pipelines.detection.boxes import iou_matrix, offsets
from services.trainer.pipelines.detection.channels import Channels
from services.trainer.pipelines.detection.window_features import snapped_features
from services.trainer.pipelines.detection.windows import sliding_windows

POSITIVE_IOU = 0.6
BACKGROUND_IOU = 0.3
"""Training windows overlapping a box by more than this but less than POSITIVE_IOU are
neither object nor background: they are left out."""

Samples = tuple[Array, Array, Array]
"""Features, labels (0: background, else the 1-based class) and the offsets from the window
to its ground-truth box (NaN for background)."""


def initial_samples(channels: Channels, truth: Array, anchors: Array, rng: Any) -> Samples:
    """The sliding windows that fit a box well, the boxes themselves (also jittered), and a
    random draw of background windows, near misses included."""
    import numpy as np

    windows = sliding_windows(channels, anchors)
    best, label = matches(windows, truth)
    background = np.flatnonzero(best < BACKGROUND_IOU)
    near = background[best[background] > 0.1]
    chosen = np.concatenate([
        np.flatnonzero(label > 0),
        rng.choice(background, min(len(background), 40), replace=False),
        rng.choice(near, min(len(near), 20), replace=False),
    ])
    boxes, features = snapped_features(
        channels, np.concatenate([windows[chosen], _jittered(truth, rng)]))
    return _labelled(boxes, features, truth)


def matches(windows: Array, truth: Array) -> tuple[Array, Array]:
    """Per window: its best IoU with a ground-truth box, and that box's class when the IoU
    reaches POSITIVE_IOU (else 0)."""
    import numpy as np

    if not len(truth):
        return np.zeros(len(windows)), np.zeros(len(windows), dtype=np.int64)
    overlaps = iou_matrix(windows.astype(float), truth[:, :4])
    best = overlaps.max(axis=1)
    label = np.where(best >= POSITIVE_IOU, truth[overlaps.argmax(axis=1), 4], 0)
    return best, label.astype(np.int64)


def stacked(samples: list[Samples]) -> tuple[Array, Array]:
    """The features and labels of all the images' samples."""
    import numpy as np

    return np.concatenate([s[0] for s in samples]), np.concatenate([s[1] for s in samples])


def _jittered(truth: Array, rng: Any, copies: int = 4) -> Array:
    """The boxes, and copies shifted by up to 8 % and scaled by up to 10 %."""
    import numpy as np

    boxes = np.repeat(truth[:, :4], copies, axis=0)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    dx, dy = rng.uniform(-0.08, 0.08, (2, len(boxes))) * np.stack([w, h])
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2 + dx, (boxes[:, 1] + boxes[:, 3]) / 2 + dy
    w, h = np.exp(rng.uniform(-0.1, 0.1, (2, len(boxes)))) * np.stack([w, h])
    return np.concatenate([truth[:, :4], np.stack([cx - w / 2, cy - h / 2, cx + w / 2,
                                                   cy + h / 2], axis=1)])


def _labelled(boxes: Array, features: Array, truth: Array) -> Samples:
    """The windows that clearly are an object or background, with labels and offsets."""
    import numpy as np

    best, label = matches(boxes, truth)
    targets = np.full((len(boxes), 4), np.nan)
    if len(truth):
        matched = truth[iou_matrix(boxes.astype(float), truth[:, :4]).argmax(axis=1)]
        targets = offsets(boxes.astype(float), matched[:, :4])
    targets[label == 0] = np.nan
    keep = (label > 0) | (best < BACKGROUND_IOU)
    return features[keep], label[keep], targets[keep]
