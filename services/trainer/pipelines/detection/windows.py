"""Where the sliding windows lie: for each anchor size, a lattice of top-left corners a
quarter of the window's shorter side apart, centred in the image."""

from __future__ import annotations

from dataclasses import dataclass

from services.trainer.pipelines.detection.arrays import Array
from services.trainer.pipelines.detection.channels import Channels

GRID = 4
"""A window is GRID x GRID cells; its sides are multiples of GRID pixels."""
STRIDE_DIVISOR = 4
"""Windows of one size are a quarter of their shorter side apart."""


@dataclass(frozen=True)
class Lattice:
    """The windows of one anchor size: cells of ``cw`` x ``ch`` pixels, top-left corners
    at every ``xs`` x ``ys``."""

    cw: int
    ch: int
    xs: Array
    ys: Array
    stride: int

    def boxes(self) -> Array:
        import numpy as np

        x0, y0 = (a.ravel() for a in np.meshgrid(self.xs, self.ys))
        return np.stack([x0, y0, x0 + GRID * self.cw, y0 + GRID * self.ch], axis=1)


def lattices(width: int, height: int, anchors: Array) -> list[Lattice]:
    import numpy as np

    found = []
    for anchor_width, anchor_height in anchors:
        cw = int(min(anchor_width, width) // GRID)
        ch = int(min(anchor_height, height) // GRID)
        if cw >= 1 and ch >= 1:
            stride = max(2, round(min(cw, ch) * GRID / STRIDE_DIVISOR))
            xs, ys = (np.arange(0, last + 1, stride) + (last % stride) // 2
                      for last in (width - GRID * cw, height - GRID * ch))
            found.append(Lattice(cw, ch, xs, ys, stride))
    return found


def sliding_windows(channels: Channels, anchors: Array) -> Array:
    """(n, 4) x0, y0, x1, y1 of every window of every anchor size, in the order
    :func:`~services.trainer.pipelines.detection.window_features.scan` gives them."""
    import numpy as np

    found = [lattice.boxes() for lattice in lattices(channels.width, channels.height, anchors)]
    return np.concatenate(found) if found else np.zeros((0, 4), dtype=np.int64)


def pad_for(anchors: Array, truth: Array | None = None) -> int:
    """Room for the strip outside any window (and any jittered training box)."""
    import numpy as np

    pad = int(anchors.max()) // GRID
    if truth is not None and len(truth):
        pad = max(pad, int(np.ceil((truth[:, 2:4] - truth[:, 0:2]).max() * 1.2 / GRID)) + 1)
    return pad
