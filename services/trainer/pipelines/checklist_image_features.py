"""Hand-made image features for the image checklist pipeline, computed on the CPU from an
encoded image (PNG, JPEG, ...) resized to a fixed square, so images of any size compare.
A checklist asks what an image contains, wherever it is, so the features are pooled over
the whole image:

- colour: the share of strongly coloured pixels per hue, and per-channel histograms;
- edges: colour gradients (per pixel, of the channel that changes most, so a shape shows
  whatever its brightness against the background), their orientations binned
  (:data:`ORIENTATION_BINS`, centred on 0, 15, 30... degrees), in overlapping cells of
  :data:`CELL` pixels as HOG does; each cell's histogram of unit length. Pooled over the
  cells: the mean and max of each bin, and of each product of two bins (second-order
  pooling: which orientations meet in one cell, as at a corner or along a curve); plus
  the share of the image's pixels on an edge, per orientation;
- layout: a few downscaled grey pixels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.trainer.pipeline import Example
from services.trainer.pipelines.image_decoding import opened_image

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

SIDE = 96
"""Images are resized to SIDE x SIDE pixels first."""
HUE_BINS = 12
SATURATED = 0.35
"""A pixel counts as coloured above this saturation (and a minimal brightness)."""
CHANNEL_BINS = 8
ORIENTATION_BINS = 12
CELL, STRIDE = 8, 4
EDGE = 0.03
"""Gradient magnitude (intensities in [0, 1] per pixel) above which a pixel is on an edge."""
THUMBNAIL = 8
DESCRIPTION = (
    f"hue histogram of saturated pixels ({HUE_BINS} bins) + RGB histograms "
    f"({CHANNEL_BINS} bins) + colour-gradient orientations ({ORIENTATION_BINS} bins) in "
    f"{CELL}px cells, mean/max and second-order pooled over the image + {THUMBNAIL}x"
    f"{THUMBNAIL} grey pixels, from the image resized to {SIDE}x{SIDE}"
)


def image_features(example: Example) -> NDArray[np.float64]:
    import numpy as np

    pixels = _pixels(example)
    return np.concatenate([_hues(pixels), _channels(pixels), _edges(pixels),
                           _thumbnail(pixels.mean(axis=2))])


def _pixels(example: Example) -> NDArray[np.float64]:
    """RGB in [0, 1], SIDE x SIDE."""
    import numpy as np
    from PIL import Image

    with opened_image(example) as image:
        image.draft("RGB", (SIDE * 2, SIDE * 2))  # a cheap JPEG downscale while decoding
        rgb = image.convert("RGB").resize((SIDE, SIDE), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.float64) / 255.0


def _hues(pixels: NDArray[np.float64]) -> NDArray[np.float64]:
    """The share of the image's pixels that are strongly coloured, per hue."""
    import numpy as np

    top, bottom = pixels.max(axis=2), pixels.min(axis=2)
    saturation = (top - bottom) / np.maximum(top, 1e-6)
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    hue = np.arctan2(np.sqrt(3.0) * (green - blue), 2 * red - green - blue) % (2 * np.pi)
    coloured = (saturation > SATURATED) & (top > 0.2)
    counts = np.histogram(hue[coloured], bins=HUE_BINS, range=(0.0, 2 * np.pi))[0]
    return np.asarray(counts / hue.size, dtype=np.float64)


def _channels(pixels: NDArray[np.float64]) -> NDArray[np.float64]:
    import numpy as np

    return np.concatenate([
        np.histogram(pixels[..., c], bins=CHANNEL_BINS, range=(0.0, 1.0))[0] / (SIDE * SIDE)
        for c in range(3)])


def _edges(pixels: NDArray[np.float64]) -> NDArray[np.float64]:
    import numpy as np

    magnitude, orientation = _gradients(pixels)
    on_edge = magnitude > EDGE
    shares = np.bincount(orientation[on_edge], minlength=ORIENTATION_BINS) / magnitude.size
    cells = _cells(magnitude, orientation)
    upper = np.triu_indices(ORIENTATION_BINS)
    pairs = np.einsum("ci,cj->cij", cells, cells)[:, upper[0], upper[1]]
    return np.concatenate([shares, cells.mean(axis=0), cells.max(axis=0),
                           pairs.mean(axis=0), pairs.max(axis=0)])


def _gradients(pixels: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.int_]]:
    """Per pixel (of a 2x2-smoothed image), the gradient magnitude of the channel that
    changes most, and its orientation's bin (unsigned: 0 to 180 degrees)."""
    import numpy as np

    smooth = (pixels[:-1, :-1] + pixels[1:, :-1] + pixels[:-1, 1:] + pixels[1:, 1:]) / 4
    dy, dx = np.gradient(smooth, axis=(0, 1))
    strongest = np.hypot(dx, dy).argmax(axis=2)[..., None]
    dx = np.take_along_axis(dx, strongest, axis=2)[..., 0]
    dy = np.take_along_axis(dy, strongest, axis=2)[..., 0]
    angle = np.arctan2(dy, dx) % np.pi
    orientation = np.round(angle / np.pi * ORIENTATION_BINS).astype(np.int_) % ORIENTATION_BINS
    return np.hypot(dx, dy), orientation


def _cells(magnitude: NDArray[np.float64], orientation: NDArray[np.int_]
           ) -> NDArray[np.float64]:
    """A magnitude-weighted orientation histogram per overlapping cell, of unit length
    (nearly zero in a cell without edges)."""
    import numpy as np

    side = magnitude.shape[0] // STRIDE * STRIDE
    weighted = np.zeros((side, side, ORIENTATION_BINS))
    np.put_along_axis(weighted, orientation[:side, :side, None], magnitude[:side, :side, None],
                      axis=2)
    blocks = weighted.reshape(side // STRIDE, STRIDE, side // STRIDE, STRIDE,
                              ORIENTATION_BINS).sum(axis=(1, 3))
    span = CELL // STRIDE
    cells = sum(blocks[r:r + len(blocks) - span + 1, c:c + len(blocks) - span + 1]
                for r in range(span) for c in range(span))
    histograms = np.asarray(cells).reshape(-1, ORIENTATION_BINS)
    return np.asarray(
        histograms / (np.linalg.norm(histograms, axis=1, keepdims=True) + 0.1))


def _thumbnail(grey: NDArray[np.float64]) -> NDArray[np.float64]:
    step = SIDE // THUMBNAIL
    import numpy as np

    return np.asarray(grey.reshape(THUMBNAIL, step, THUMBNAIL, step).mean(axis=(1, 3)).ravel())
