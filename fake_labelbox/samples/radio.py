"""Sample exports of the two radio (single-label) model types, two questions each.

Text: product reviews asked ``sentiment`` (positive / negative) and ``product`` (kitchen /
electronics / clothing), from the words of :mod:`fake_labelbox.sample_rows`.
Images: noisy images asked ``colour`` (red / green / blue: the dominant colour) and
``brightness`` (dark / light); one image in eight never had ``brightness`` answered."""

from __future__ import annotations

import io
import random

from fake_labelbox.sample_rows import COMPLAINTS, NEGATIVE, POSITIVE, PRAISE
from fake_labelbox.samples.export_row import SampleExport, export_row, radio, split_of

PRODUCTS = {
    "kitchen": ["kettle", "blender", "toaster", "frying pan", "coffee grinder"],
    "electronics": ["keyboard", "headset", "phone charger", "monitor", "speaker"],
    "clothing": ["jacket", "scarf", "pair of boots", "raincoat", "sweater"],
}
COLOURS = {"red": (200, 40, 40), "green": (40, 170, 60), "blue": (40, 60, 200)}
UNLABELLED_EVERY = 12


def text_radio_export(model_id: str, model_run_id: str, *, base_url: str = "",
                      count: int = 200, seed: int = 0) -> SampleExport:
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        # answers cycle independently of the split (every tenth row is a test row)
        positive = index // 10 % 2 == 0
        product = sorted(PRODUCTS)[index // 20 % 3]
        adjectives, phrases = (POSITIVE, PRAISE) if positive else (NEGATIVE, COMPLAINTS)
        first, second = rng.sample(adjectives, 2)
        text = (f"The {rng.choice(PRODUCTS[product])} is {first}, really {second}. "
                f"{rng.choice(phrases).capitalize()}.")
        rows.append(export_row(
            model_id, model_run_id, data_row_id=f"review-{index:04d}",
            global_key=f"review-{seed}-{index:04d}", row_data=text,
            split=split_of(index, count), labelled=index % UNLABELLED_EVERY != 5,
            classifications=[radio("sentiment", "positive" if positive else "negative"),
                             radio("product", product)]))
    return SampleExport(rows)


def _image(rng: random.Random, colour: tuple[int, int, int], light: bool, size: int) -> bytes:
    from PIL import Image

    shift = 50 if light else -50
    image = Image.new("RGB", (size, size))
    image.putdata([
        tuple(max(0, min(255, c + shift + rng.randint(-60, 60))) for c in colour)
        for _ in range(size * size)
    ])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def image_radio_export(model_id: str, model_run_id: str, *, base_url: str = "",
                       count: int = 150, seed: int = 0) -> SampleExport:
    rng = random.Random(seed)
    rows, files = [], {}
    for index in range(count):
        colour = sorted(COLOURS)[index % 3]
        light = index // 3 % 2 == 0
        size = rng.choice((24, 32, 40))
        path = f"/media/colour-{seed}-{index:04d}.png"
        files[path] = _image(rng, COLOURS[colour], light, size)
        answers = [radio("colour", colour)]
        if index % 8 != 7:
            answers.append(radio("brightness", "light" if light else "dark"))
        rows.append(export_row(
            model_id, model_run_id, data_row_id=f"photo-{index:04d}",
            global_key=f"photo-{seed}-{index:04d}", row_data=f"{base_url}{path}",
            split=split_of(index, count), labelled=index % UNLABELLED_EVERY != 5,
            classifications=answers,
            media={"mime_type": "image/png", "width": size, "height": size}))
    return SampleExport(rows, files)
