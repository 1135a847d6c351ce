"""Images at working scale, and the boxes on them: ground truth in, detections out."""

from __future__ import annotations

from dataclasses import dataclass

from eventlog.contract import BoundingBox
from services.trainer.pipeline import DataError, Example
from services.trainer.pipelines.detection.arrays import Array
from services.trainer.pipelines.image_decoding import opened_image

MAX_SIDE = 384
"""Larger images are scaled down to this longest side (their boxes with them)."""


@dataclass(frozen=True)
class Picture:
    """An image ready for detection: its pixels at working scale, and the scale."""

    rgb: Array
    scale: float
    width: int
    height: int


def read_picture(example: Example) -> Picture:
    import numpy as np
    from PIL import Image

    # EXIF orientation is not applied: Labelbox strips it, boxes are on the raw pixels
    with opened_image(example) as image:
        width, height = image.size
        scale = min(1.0, MAX_SIDE / max(width, height))
        image.draft("RGB", (round(width * scale), round(height * scale)))
        rgb = image.convert("RGB")
        if scale < 1.0:
            rgb = rgb.resize((max(1, round(width * scale)), max(1, round(height * scale))),
                             Image.Resampling.BILINEAR)
    return Picture(np.asarray(rgb), scale, width, height)


def check_boxes(example: Example, picture: Picture) -> None:
    where = f"data row {example.data_row_id}"
    for box in boxes_of(example):
        for side, size in (("width", box.width), ("height", box.height)):
            if size <= 0:
                sign = "zero" if size == 0 else "negative"
                raise DataError(f"{where}: box {box.feature!r} has a {sign} {side} ({size:g})")
        if (box.left < -1 or box.top < -1 or box.right > picture.width + 1
                or box.bottom > picture.height + 1):
            raise DataError(
                f"{where}: box {box.feature!r} (left {box.left:g}, top {box.top:g}, width "
                f"{box.width:g}, height {box.height:g}) lies outside the "
                f"{picture.width}x{picture.height} image")


def boxes_of(example: Example) -> list[BoundingBox]:
    return [a for a in example.annotations if isinstance(a, BoundingBox)]


def ground_truth(example: Example, picture: Picture, classes: list[str]) -> Array:
    """(n, 5): x0, y0, x1, y1 at working scale, and the 1-based class."""
    import numpy as np

    rows = [[b.left * picture.scale, b.top * picture.scale, b.right * picture.scale,
             b.bottom * picture.scale, classes.index(b.feature) + 1] for b in boxes_of(example)]
    return np.array(rows, dtype=float).reshape(-1, 5)


def box_in_pixels(box: Array, feature: str, score: float, picture: Picture) -> BoundingBox:
    """A detection (x0, y0, x1, y1 at working scale) as a Labelbox box clipped to the image."""
    x0, y0, x1, y1 = (float(v) / picture.scale for v in box)
    x0, y0 = max(0.0, x0), max(0.0, y0)
    x1, y1 = min(float(picture.width), x1), min(float(picture.height), y1)
    return BoundingBox(feature, top=round(y0, 1), left=round(x0, 1),
                       height=round(max(y1 - y0, 1.0), 1), width=round(max(x1 - x0, 1.0), 1),
                       confidence=round(min(1.0, max(0.0, score)), 4))
