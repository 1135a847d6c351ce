"""The ``bounding_box`` baseline: for every image, one box per class, of that class's mean
training box size, centred in the image, with the class's share of the training boxes as
its confidence. It knows what objects look like in size and how often, nothing of where:
it scores near 0 mAP, so a detector must find objects to beat it."""

from __future__ import annotations

import io
from collections import defaultdict

from eventlog.contract import BoundingBox
from services.trainer.pipeline import Dataset, Prediction


def baseline(dataset: Dataset) -> list[Prediction]:
    sizes: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for example in dataset.examples:
        if example.labelled and example.split == "training":
            for box in example.annotations:
                if isinstance(box, BoundingBox):
                    sizes[box.feature].append((box.width, box.height))
    total = sum(map(len, sizes.values()))
    predictions = []
    for example in dataset.examples:
        width, height = _image_size(example.content)
        boxes = []
        for feature, seen in sorted(sizes.items()):
            box_width = min(sum(w for w, _ in seen) / len(seen), width)
            box_height = min(sum(h for _, h in seen) / len(seen), height)
            boxes.append(BoundingBox(feature, top=(height - box_height) / 2,
                                     left=(width - box_width) / 2, height=box_height,
                                     width=box_width, confidence=len(seen) / total))
        predictions.append(Prediction(example.data_row_id, tuple(boxes),
                                      max((b.confidence or 0.0 for b in boxes), default=None)))
    return predictions


def _image_size(content: str | bytes) -> tuple[float, float]:
    """Read from the image's header (the pipeline's ``prepare`` has checked it decodes)."""
    from PIL import Image

    data = content if isinstance(content, bytes) else content.encode()
    width, height = Image.open(io.BytesIO(data)).size
    return float(width), float(height)
