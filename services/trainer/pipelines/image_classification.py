"""``image_single_classification``: colour histograms plus downscaled grey pixels, fed to a
standardised logistic regression, on CPU. Images arrive as encoded bytes (PNG, JPEG, ...)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from services.trainer.pipeline import (
    Dataset,
    Example,
    Pipeline,
    Prediction,
    TrainedModel,
    assign_split,
    predictions_from,
    split_sizes,
    training_labels,
)

THUMBNAIL = 16
BINS = 8


class ImageClassification(Pipeline):
    model_type = "image_single_classification"
    media = "image"
    description = (
        "Single-label image classification: colour histograms + 16x16 grey pixels + "
        "logistic regression"
    )

    def __init__(self, *, c: float = 1.0) -> None:
        self.c = c

    def prepare(self, examples: Sequence[Example]) -> Dataset:
        import numpy as np

        split = [
            Example(e.data_row_id, e.content, e.label, assign_split(e.data_row_id, e.split))
            for e in examples
        ]
        features = np.stack([_features(e) for e in split]) if split else np.zeros((0, 0))
        return Dataset(examples=split, features=features, sizes=split_sizes(split))

    def train(self, dataset: Dataset) -> TrainedModel:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        rows = [i for i, e in enumerate(dataset.examples)
                if e.split == "training" and e.label is not None]
        labels = training_labels(dataset.examples)
        model = make_pipeline(StandardScaler(), LogisticRegression(C=self.c, max_iter=2000))
        model.fit(dataset.features[rows], [dataset.examples[i].label for i in rows])
        return TrainedModel(
            model=model,
            hyperparameters={"features": f"rgb histogram ({BINS} bins) + {THUMBNAIL}x{THUMBNAIL} "
                             "grey pixels", "classifier": "logistic_regression", "C": str(self.c)},
            labels=labels,
        )

    def predict(self, model: TrainedModel, dataset: Dataset) -> list[Prediction]:
        if not dataset.examples:
            return []
        return predictions_from(
            dataset.examples, model.model.classes_, model.model.predict_proba(dataset.features)
        )


def _features(example: Example) -> Any:
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    if not isinstance(example.content, bytes):
        raise ValueError(f"data row {example.data_row_id}: expected image bytes")
    try:
        image = Image.open(io.BytesIO(example.content))
        image.draft("RGB", (THUMBNAIL * 4, THUMBNAIL * 4))  # cheap JPEG downscale on decode
        rgb = image.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"data row {example.data_row_id}: not a readable image ({exc})") from exc
    pixels = np.asarray(rgb.resize((THUMBNAIL, THUMBNAIL)), dtype=np.float32) / 255.0
    histogram = np.concatenate([
        np.histogram(pixels[..., channel], bins=BINS, range=(0.0, 1.0))[0] / pixels[..., 0].size
        for channel in range(3)
    ])
    grey = pixels.mean(axis=2).ravel()
    return np.concatenate([histogram, grey])
