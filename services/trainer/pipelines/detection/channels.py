"""An image's feature channels -- opponent colours, gradient magnitude, orientations -- as a
summed-area table, so that the mean of any rectangle costs four look-ups."""

from __future__ import annotations

from dataclasses import dataclass

from services.trainer.pipelines.detection.arrays import Array

ORIENTATIONS = 6


@dataclass(frozen=True)
class Channels:
    """An image's channels as a summed-area table (float32, of the channels minus their
    ``means`` to keep its sums small), padded by ``pad`` pixels with the edges repeated so
    that the strips around a window at the image's border exist."""

    integral: Array
    means: Array
    pad: int
    width: int
    height: int


def image_channels(rgb: Array, pad: int) -> Channels:
    """Opponent colours, gradient magnitude and orientation bins (of the colour channel
    with the strongest gradient at each pixel)."""
    import numpy as np

    pixels = rgb.astype(np.float32) / 255.0
    if min(pixels.shape[:2]) < 2:  # a 1-pixel banner: gradients need two pixels a side
        pixels = np.pad(pixels, ((0, max(0, 2 - pixels.shape[0])),
                                 (0, max(0, 2 - pixels.shape[1])), (0, 0)), mode="edge")
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    colour = [(red + green + blue) / 3, red - green, (red + green) / 2 - blue]
    gy = np.stack([np.gradient(pixels[..., c], axis=0) for c in range(3)])
    gx = np.stack([np.gradient(pixels[..., c], axis=1) for c in range(3)])
    magnitudes = np.hypot(gx, gy)
    strongest = magnitudes.argmax(axis=0)[None]
    magnitude = np.take_along_axis(magnitudes, strongest, 0)[0]
    angle = np.arctan2(np.take_along_axis(gy, strongest, 0)[0],
                       np.take_along_axis(gx, strongest, 0)[0]) % np.pi
    bins = np.minimum((angle * (ORIENTATIONS / np.pi)).astype(np.int64), ORIENTATIONS - 1)
    orientations = [np.where(bins == b, magnitude, 0.0) for b in range(ORIENTATIONS)]
    channels = np.stack([*colour, magnitude, *orientations]).astype(np.float32)
    means = channels.mean(axis=(1, 2))
    padded = np.pad(channels - means[:, None, None], ((0, 0), (pad, pad), (pad, pad)),
                    mode="edge")
    integral = np.zeros((padded.shape[0], padded.shape[1] + 1, padded.shape[2] + 1),
                        dtype=np.float32)
    integral[:, 1:, 1:] = padded.cumsum(axis=1).cumsum(axis=2)
    return Channels(integral, means, pad, rgb.shape[1], rgb.shape[0])
