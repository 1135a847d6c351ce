"""Noisy images for the image checklist sample: one to three kinds of shape (circle, square,
triangle, stripes) of varied sizes, positions and colours on a dull gradient background
with pixel noise and clutter (dull specks and thin lines that are none of the options).
What a row answers is which shapes and which colours it shows."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.ImageDraw import ImageDraw

SHAPES = ("circle", "square", "triangle", "stripes")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (205, 45, 40), "green": (45, 170, 60), "blue": (45, 70, 210), "yellow": (225, 200, 40),
}
MIN_SIZE, MAX_SIZE = 16, 30
NOISE = 10.0


@dataclass(frozen=True)
class Drawn:
    shape: str
    colour: str


def shape_image(rng: random.Random, width: int, height: int,
                shapes: list[str]) -> tuple[bytes, list[Drawn]]:
    """A PNG showing each of ``shapes`` (once, now and then twice), and what was drawn."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    image = Image.fromarray(_background(rng, width, height))
    draw = ImageDraw.Draw(image)
    _clutter(rng, draw, width, height)
    drawn: list[Drawn] = []
    taken: list[tuple[int, int, int]] = []
    for shape in shapes + ([rng.choice(shapes)] if rng.random() < 0.2 else []):
        place = _place(rng, width, height, taken)
        if place is None:
            continue
        colour = rng.choice(sorted(COLOURS))
        fill = tuple(max(0, min(255, c + rng.randint(-25, 25))) for c in COLOURS[colour])
        _draw(rng, image, draw, shape, place, fill)
        taken.append(place)
        drawn.append(Drawn(shape, colour))
    image = image.filter(ImageFilter.GaussianBlur(0.5))
    noise = np.random.default_rng(rng.getrandbits(32)).normal(0.0, NOISE, (height, width, 3))
    pixels = np.clip(np.asarray(image, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue(), drawn


def _background(rng: random.Random, width: int, height: int) -> Any:
    """A gradient between two dull, nearly grey colours."""
    import numpy as np

    def dull() -> Any:
        level = rng.randint(80, 180)
        return np.array([level + rng.randint(-12, 12) for _ in range(3)], dtype=np.float32)

    start, end = dull(), dull()
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = xs / width if rng.random() < 0.5 else ys / height
    return np.clip(start + (end - start) * ramp[..., None], 0, 255).astype(np.uint8)


def _clutter(rng: random.Random, draw: ImageDraw, width: int, height: int) -> None:
    for _ in range(rng.randint(0, 3)):
        level = rng.randint(60, 200)
        x, y = rng.randint(0, width), rng.randint(0, height)
        if rng.random() < 0.5:
            radius = rng.randint(1, 3)
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=(level,) * 3)
        else:
            draw.line((x, y, x + rng.randint(-30, 30), y + rng.randint(-30, 30)),
                      fill=(level,) * 3, width=1)


def _place(rng: random.Random, width: int, height: int,
           taken: list[tuple[int, int, int]]) -> tuple[int, int, int] | None:
    """(left, top, size) of a square spot clear of the shapes already drawn."""
    for _ in range(30):
        size = rng.randint(MIN_SIZE, min(MAX_SIZE, width - 4, height - 4))
        left, top = rng.randint(2, width - size - 2), rng.randint(2, height - size - 2)
        if all(left + size + 2 <= x or x + s + 2 <= left or top + size + 2 <= y
               or y + s + 2 <= top for x, y, s in taken):
            return left, top, size
    return None


def _draw(rng: random.Random, image: Any, draw: ImageDraw, shape: str,
          place: tuple[int, int, int], fill: tuple[int, ...]) -> None:
    left, top, size = place
    right, bottom = left + size, top + size
    colour = (fill[0], fill[1], fill[2])
    if shape == "circle":
        draw.ellipse((left, top, right, bottom), fill=colour)
    elif shape == "square":
        inset = rng.randint(0, size // 6)
        draw.rectangle((left + inset, top + inset, right - inset, bottom - inset), fill=colour)
    elif shape == "triangle":
        apex, base = (top, bottom) if rng.random() < 0.5 else (bottom, top)
        draw.polygon([(left, base), (right, base), ((left + right) / 2, apex)], fill=colour)
    else:
        _stripes(rng, image, place, colour)


def _stripes(rng: random.Random, image: Any, place: tuple[int, int, int],
             colour: tuple[int, int, int]) -> None:
    """Diagonal stripes (either diagonal, period 5 to 7 px) filling a square patch."""
    import numpy as np
    from PIL import Image

    left, top, size = place
    ys, xs = np.mgrid[0:size, 0:size]
    along = xs + ys if rng.random() < 0.5 else xs - ys
    period = rng.randint(5, 7)
    mask = ((along % period) < period / 2).astype(np.uint8) * 255
    patch = Image.new("RGB", (size, size), colour)
    image.paste(patch, (left, top), Image.fromarray(mask))
