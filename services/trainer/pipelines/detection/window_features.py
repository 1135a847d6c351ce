"""What a window looks like: the channel means over its GRID x GRID cells and over a
one-cell strip outside each side, then its log width, log height and log aspect ratio."""

from __future__ import annotations

from services.trainer.pipelines.detection.arrays import Array
from services.trainer.pipelines.detection.channels import Channels
from services.trainer.pipelines.detection.windows import GRID, lattices


def scan(channels: Channels, anchors: Array) -> tuple[Array, Array]:
    """Every window of every anchor size, and its features: those of
    :func:`snapped_features`, read off a map of the means of every cell-sized rectangle."""
    import numpy as np

    boxes, features = [], []
    for lattice in lattices(channels.width, channels.height, anchors):
        cw, ch, stride = lattice.cw, lattice.ch, lattice.stride
        ny, nx = len(lattice.ys), len(lattice.xs)
        cells = _mean_map(channels.integral, cw, ch)
        x, y = int(lattice.xs[0]) + channels.pad, int(lattice.ys[0]) + channels.pad

        def cell(i: int, j: int, cells: Array = cells, x: int = x, y: int = y,
                 cw: int = cw, ch: int = ch, stride: int = stride, ny: int = ny,
                 nx: int = nx) -> Array:
            top, left = y + i * ch, x + j * cw
            return cells[:, top:top + ny * stride:stride, left:left + nx * stride:stride]

        means = [cell(i, j) for i in range(GRID) for j in range(GRID)] + [
            sum(cell(i, -1) for i in range(GRID)) / GRID,
            sum(cell(i, GRID) for i in range(GRID)) / GRID,
            sum(cell(-1, j) for j in range(GRID)) / GRID,
            sum(cell(GRID, j) for j in range(GRID)) / GRID,
        ]
        lattice_features = np.empty((ny * nx, len(means) * len(cells) + 3), dtype=np.float32)
        lattice_features[:, :-3] = (np.stack(means) + channels.means[None, :, None, None]) \
            .reshape(-1, ny * nx).T
        lattice_features[:, -3:] = np.log([GRID * cw, GRID * ch, cw / ch])
        features.append(lattice_features)
        boxes.append(lattice.boxes())
    if not boxes:  # an image thinner than the smallest window (a banner): nothing to scan
        width = (GRID * GRID + 4) * channels.integral.shape[0] + 3  # as the features below
        return np.zeros((0, 4), dtype=np.int64), np.zeros((0, width), dtype=np.float32)
    return np.concatenate(boxes), np.concatenate(features)


def snapped_features(channels: Channels, boxes: Array) -> tuple[Array, Array]:
    """Any windows (x0, y0, x1, y1), snapped to whole-pixel cells inside the image, and
    their features."""
    import numpy as np

    cw = np.clip(np.round((boxes[:, 2] - boxes[:, 0]) / GRID).astype(np.int64),
                 1, max(channels.width // GRID, 1))
    ch = np.clip(np.round((boxes[:, 3] - boxes[:, 1]) / GRID).astype(np.int64),
                 1, max(channels.height // GRID, 1))
    x0 = np.clip(np.round(boxes[:, 0]).astype(np.int64), 0, channels.width - GRID * cw)
    y0 = np.clip(np.round(boxes[:, 1]).astype(np.int64), 0, channels.height - GRID * ch)
    snapped = np.stack([x0, y0, x0 + GRID * cw, y0 + GRID * ch], axis=1)
    return snapped, _grid_features(channels, x0, y0, cw, ch)


def _grid_features(channels: Channels, x0: Array, y0: Array, cw: Array, ch: Array) -> Array:
    """Per window: channel means over its GRID x GRID cells and over a one-cell strip
    outside each side, then its log width, log height and log aspect ratio."""
    import numpy as np

    x, y = x0 + channels.pad, y0 + channels.pad
    rects = [(x + j * cw, y + i * ch, cw, ch) for i in range(GRID) for j in range(GRID)]
    rects += [(x - cw, y, cw, GRID * ch), (x + GRID * cw, y, cw, GRID * ch),
              (x, y - ch, GRID * cw, ch), (x, y + GRID * ch, GRID * cw, ch)]
    means = [_rect_sums(channels.integral, *rect) / (rect[2] * rect[3])
             + channels.means[:, None] for rect in rects]
    size = np.log(np.stack([GRID * cw, GRID * ch, cw / ch]).astype(float))
    return np.concatenate([*means, size]).T.astype(np.float32)


def _rect_sums(integral: Array, x: Array, y: Array, w: Array, h: Array) -> Array:
    """(channels, n) sums over the rectangles (padded coordinates)."""
    return (integral[:, y + h, x + w] - integral[:, y, x + w] - integral[:, y + h, x]
            + integral[:, y, x])


def _mean_map(integral: Array, width: int, height: int) -> Array:
    """(channels, y, x): the means over the width x height rectangle at every position."""
    return (integral[:, height:, width:] - integral[:, :-height, width:]
            - integral[:, height:, :-width] + integral[:, :-height, :-width]) / (width * height)
