"""A ``bounding_box`` model run's export: generated street-like scenes with cars, people and
signs on noisy textured backgrounds, each object boxed in pixels as Labelbox exports it.

Cars are wide (body, cabin, two wheels), people tall (head, torso, legs), signs roughly
square (a bordered plate: triangle, diamond or octagon); colours, sizes (about 12 to 60 px),
positions and aspect ratios vary, objects may overlap a little or be cut by the image's
edge (their box is then clipped to the image), and the background carries clutter (blobs,
lines, plain rectangles) a detector must learn to ignore. About one row in ten has no label
in the model run: it is predicted, never trained on."""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fake_labelbox.samples.export_row import (
    Row,
    SampleExport,
    bounding_box,
    export_row,
    split_of,
)

if TYPE_CHECKING:
    from PIL.ImageDraw import ImageDraw

CLASSES = ("car", "person", "sign")
MAX_OBJECTS = 4
UNLABELLED_SHARE = 0.1
MAX_OVERLAP = 0.25
"""Objects are placed so that their boxes overlap at most this much (IoU)."""

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Placed:
    feature: str
    left: int
    top: int
    width: int
    height: int


def detection_export(model_id: str, model_run_id: str, *, base_url: str = "",
                     count: int = 120, seed: int = 0) -> SampleExport:
    rng = random.Random(seed)
    rows: list[Row] = []
    files: dict[str, bytes] = {}
    for index in range(count):
        width, height = rng.randint(96, 160), rng.randint(96, 160)
        png, placed = _scene(rng, width, height)
        path = f"/media/detection-{seed}-{index:04d}.png"
        files[path] = png
        boxes = [_exported_box(rng, p, width, height) for p in placed]
        rows.append(export_row(
            model_id, model_run_id,
            data_row_id=f"det-{seed}-{index:04d}",
            global_key=f"detection/{seed}/{index:04d}.png",
            row_data=f"{base_url}{path}",
            split=split_of(index, count),
            objects=[b for b in boxes if b is not None],
            labelled=rng.random() >= UNLABELLED_SHARE,
            media={"mime_type": "image/png", "width": width, "height": height},
        ))
    return SampleExport(rows=rows, files=files)


def _scene(rng: random.Random, width: int, height: int) -> tuple[bytes, list[Placed]]:
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    image = Image.fromarray(_background(rng, width, height))
    draw = ImageDraw.Draw(image)
    _clutter(rng, draw, width, height)
    placed: list[Placed] = []
    for _ in range(rng.randint(0, MAX_OBJECTS)):
        feature = rng.choice(CLASSES)
        box = _place(rng, feature, width, height, placed)
        if box is not None:
            DRAWERS[feature](rng, draw, box)
            placed.append(box)
    image = image.filter(ImageFilter.GaussianBlur(0.6))
    noisy = np.asarray(image, dtype=np.float32) + np.asarray(
        np.random.default_rng(rng.getrandbits(32)).normal(0.0, 8.0, (height, width, 3)))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue(), placed


def _background(rng: random.Random, width: int, height: int) -> Any:
    """A two-colour gradient with low-frequency texture."""
    import numpy as np

    start, end = np.array(_dull(rng)), np.array(_dull(rng))
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    ramp = (xs * np.cos(angle) + ys * np.sin(angle))
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1.0)
    texture = sum(rng.uniform(5, 15) * np.sin(xs / rng.uniform(4, 14) + rng.uniform(0, 6))
                  * np.cos(ys / rng.uniform(4, 14) + rng.uniform(0, 6)) for _ in range(2))
    pixels = start + (end - start) * ramp[..., None] + np.asarray(texture)[..., None]
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _clutter(rng: random.Random, draw: ImageDraw, width: int, height: int) -> None:
    for _ in range(rng.randint(1, 5)):
        x, y = rng.randint(0, width), rng.randint(0, height)
        w, h = rng.randint(4, 40), rng.randint(4, 40)
        shape = rng.choice(("blob", "line", "rectangle"))
        if shape == "blob":
            draw.ellipse((x, y, x + w, y + h), fill=_any(rng))
        elif shape == "line":
            draw.line((x, y, x + rng.randint(-40, 40), y + rng.randint(-40, 40)),
                      fill=_any(rng), width=rng.randint(1, 3))
        else:
            draw.rectangle((x, y, x + w, y + h), fill=_any(rng))


def _place(rng: random.Random, feature: str, width: int, height: int,
           placed: list[Placed]) -> Placed | None:
    for _ in range(20):
        if feature == "car":
            w = rng.randint(22, 60)
            h = max(12, round(w / rng.uniform(1.5, 2.3)))
        elif feature == "person":
            h = rng.randint(24, 60)
            w = max(12, round(h * rng.uniform(0.35, 0.5)))
        else:
            w = rng.randint(12, 40)
            h = max(12, round(w * rng.uniform(0.85, 1.2)))
        # A few objects stick out of the frame by up to a quarter of their size.
        left = rng.randint(-w // 4, width - w + w // 4)
        top = rng.randint(-h // 4, height - h + h // 4)
        box = Placed(feature, left, top, w, h)
        if all(_iou(box, other) <= MAX_OVERLAP for other in placed):
            return box
    return None


def _exported_box(rng: random.Random, box: Placed, width: int, height: int) -> Row | None:
    """The box as an annotator drew it: clipped to the image, off by up to a pixel."""
    left = max(0, box.left + rng.choice((-1, 0, 0, 1)))
    top = max(0, box.top + rng.choice((-1, 0, 0, 1)))
    right = min(width, box.left + box.width + rng.choice((-1, 0, 0, 1)))
    bottom = min(height, box.top + box.height + rng.choice((-1, 0, 0, 1)))
    if right - left < 6 or bottom - top < 6:
        return None  # hardly visible: an annotator would not box it
    return bounding_box(box.feature, top=top, left=left, height=bottom - top, width=right - left)


def _draw_car(rng: random.Random, draw: ImageDraw, box: Placed) -> None:
    x, y, w, h = box.left, box.top, box.width, box.height
    body, dark = _vivid(rng), (25, 25, 30)
    wheel = max(3, round(h * 0.38))
    cabin_left = x + round(w * rng.uniform(0.15, 0.3))
    cabin_right = x + round(w * rng.uniform(0.65, 0.85))
    draw.rectangle((cabin_left, y, cabin_right, y + h * 0.45), fill=body)
    draw.rectangle((cabin_left + 2, y + 2, cabin_right - 2, y + h * 0.4), fill=(170, 200, 220))
    draw.rectangle((x, y + h * 0.4, x + w - 1, y + h - wheel * 0.5), fill=body)
    for centre in (x + w * 0.22, x + w * 0.78):
        draw.ellipse((centre - wheel / 2, y + h - wheel, centre + wheel / 2, y + h - 1),
                     fill=dark)


def _draw_person(rng: random.Random, draw: ImageDraw, box: Placed) -> None:
    x, y, w, h = box.left, box.top, box.width, box.height
    skin = rng.choice(((240, 200, 170), (200, 150, 110), (140, 95, 60), (90, 60, 40)))
    shirt, trousers = _vivid(rng), _any(rng)
    head = h * 0.2
    draw.ellipse((x + w / 2 - head / 2, y, x + w / 2 + head / 2, y + head), fill=skin)
    draw.rectangle((x, y + head, x + w - 1, y + h * 0.6), fill=shirt)
    leg = max(2, round(w * 0.3))
    draw.rectangle((x + w * 0.12, y + h * 0.6, x + w * 0.12 + leg, y + h - 1), fill=trousers)
    draw.rectangle((x + w * 0.88 - leg, y + h * 0.6, x + w * 0.88, y + h - 1), fill=trousers)


def _draw_sign(rng: random.Random, draw: ImageDraw, box: Placed) -> None:
    x, y, w, h = box.left, box.top, box.width - 1, box.height - 1
    plate = rng.choice(((210, 30, 30), (240, 200, 20), (30, 80, 200), (30, 150, 60)))
    shape = rng.choice(("triangle", "diamond", "octagon"))
    outline: list[tuple[float, float]]
    if shape == "triangle":
        outline = [(x + w / 2, y), (x + w, y + h), (x, y + h)]
    elif shape == "diamond":
        outline = [(x + w / 2, y), (x + w, y + h / 2), (x + w / 2, y + h), (x, y + h / 2)]
    else:
        a, b = w * 0.3, h * 0.3
        outline = [(x + a, y), (x + w - a, y), (x + w, y + b), (x + w, y + h - b),
                   (x + w - a, y + h), (x + a, y + h), (x, y + h - b), (x, y + b)]
    draw.polygon(outline, fill=(245, 245, 245))
    cx, cy = x + w / 2, y + h * (0.62 if shape == "triangle" else 0.5)
    inner = [(cx + (px - cx) * 0.7, cy + (py - cy) * 0.7) for px, py in outline]
    draw.polygon(inner, fill=plate)


DRAWERS: dict[str, Callable[[random.Random, ImageDraw, Placed], None]] = {
    "car": _draw_car, "person": _draw_person, "sign": _draw_sign,
}


def _vivid(rng: random.Random) -> Colour:
    channels = [rng.randint(150, 255), rng.randint(0, 90), rng.randint(0, 200)]
    rng.shuffle(channels)
    return channels[0], channels[1], channels[2]


def _dull(rng: random.Random) -> Colour:
    base = rng.randint(60, 190)
    return tuple(max(0, min(255, base + rng.randint(-30, 30))) for _ in range(3))  # type: ignore[return-value]


def _any(rng: random.Random) -> Colour:
    return rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255)


def _iou(a: Placed, b: Placed) -> float:
    width = min(a.left + a.width, b.left + b.width) - max(a.left, b.left)
    height = min(a.top + a.height, b.top + b.height) - max(a.top, b.top)
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / (a.width * a.height + b.width * b.height - inter)
