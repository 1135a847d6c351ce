"""The window ("anchor") sizes: clusters of the training boxes' widths and heights, plus
sizes for the boxes no cluster fits."""

from __future__ import annotations

from typing import Any

from services.trainer.pipelines.detection.arrays import Array
from services.trainer.pipelines.detection.windows import GRID

MIN_WINDOW = 8
COVERAGE = 0.7
"""Every training box fits some window size by this IoU (of sizes alone)."""


def anchor_sizes(sizes: Array, count: int, rng: Any) -> Array:
    """Window sizes fitting the training boxes: k-means of the boxes' widths and heights
    with 1 - IoU as the distance (YOLOv2's anchors), then, while some box fits no size by
    COVERAGE, the size fitting most such boxes (at most ``count`` more): rare small or
    odd-shaped boxes get windows too. Sizes are multiples of GRID pixels."""
    import numpy as np

    sizes = np.maximum(sizes, MIN_WINDOW)
    k = min(count, len(np.unique(sizes.round(), axis=0)))
    centres = sizes[rng.choice(len(sizes), k, replace=False)]
    for _ in range(50):
        nearest = _size_iou(sizes, centres).argmax(axis=1)
        moved = np.array([np.median(sizes[nearest == j], axis=0) if (nearest == j).any()
                          else centres[j] for j in range(k)])
        if np.allclose(moved, centres):
            break
        centres = moved
    anchors = _snapped(centres)
    for _ in range(count):
        unfit = sizes[_size_iou(sizes, anchors).max(axis=1) < COVERAGE]
        if not len(unfit):
            break
        options = _snapped(unfit)
        fits = (_size_iou(unfit, options) >= COVERAGE).sum(axis=0)
        anchors = np.unique(np.concatenate([anchors, options[[fits.argmax()]]]), axis=0)
    return anchors[np.argsort(anchors.prod(axis=1), kind="stable")]


def _snapped(sizes: Array) -> Array:
    import numpy as np

    cells = np.maximum(np.round(sizes / GRID), MIN_WINDOW // GRID)
    return np.unique(cells * GRID, axis=0).astype(np.int64)


def _size_iou(sizes: Array, anchors: Array) -> Array:
    """(n, k) IoU of boxes of these sizes and anchors, placed at the same centre."""
    import numpy as np

    inter = (np.minimum(sizes[:, None, 0], anchors[None, :, 0])
             * np.minimum(sizes[:, None, 1], anchors[None, :, 1]))
    union = sizes[:, None].prod(axis=2) + anchors[None, :].prod(axis=2) - inter
    return inter / union
