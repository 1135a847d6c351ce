"""Boxes as x0, y0, x1, y1 rows: how much they overlap, non-maximum suppression, and the
offsets from a window to a box that box regression learns."""

from __future__ import annotations

from services.trainer.pipelines.detection.arrays import Array


def iou_matrix(a: Array, b: Array) -> Array:
    """(n, m) IoU of boxes given as x0, y0, x1, y1."""
    import numpy as np

    width = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    height = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(width, 0, None) * np.clip(height, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def non_maximum_suppression(boxes: Array, scores: Array, threshold: float) -> list[int]:
    """The boxes kept, best first: each drops the later ones it overlaps by more than
    ``threshold`` IoU."""
    import numpy as np

    order = np.argsort(-scores, kind="stable")
    kept: list[int] = []
    while len(order):
        kept.append(int(order[0]))
        overlaps = iou_matrix(boxes[order[:1]], boxes[order[1:]])[0]
        order = order[1:][overlaps <= threshold]
    return kept


def offsets(boxes: Array, targets: Array) -> Array:
    """Centre shifts (in widths and heights) and log scales from boxes to targets."""
    import numpy as np

    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    tw, th = targets[:, 2] - targets[:, 0], targets[:, 3] - targets[:, 1]
    return np.stack([
        ((targets[:, 0] + targets[:, 2]) - (boxes[:, 0] + boxes[:, 2])) / 2 / w,
        ((targets[:, 1] + targets[:, 3]) - (boxes[:, 1] + boxes[:, 3])) / 2 / h,
        np.log(tw / w), np.log(th / h)], axis=1)


def refined(boxes: Array, deltas: Array) -> Array:
    """The boxes moved by :func:`offsets` ``deltas``: centre shifts of at most half a width
    or height, scales of at most e^0.5 either way."""
    import numpy as np

    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    cx = (boxes[:, 0] + boxes[:, 2]) / 2 + np.clip(deltas[:, 0], -0.5, 0.5) * w
    cy = (boxes[:, 1] + boxes[:, 3]) / 2 + np.clip(deltas[:, 1], -0.5, 0.5) * h
    w = w * np.exp(np.clip(deltas[:, 2], -0.5, 0.5))
    h = h * np.exp(np.clip(deltas[:, 3], -0.5, 0.5))
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
