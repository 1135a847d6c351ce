"""``image_single_classification``: colour histograms plus downscaled grey pixels, fed to a
standardised logistic regression per radio question, on CPU. Images arrive as encoded bytes
(PNG, JPEG, ...)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.trainer.pipeline import Example
from services.trainer.pipelines.image_decoding import opened_image
from services.trainer.pipelines.radio import RadioPipeline

THUMBNAIL = 16
BINS = 8


class ImageClassification(RadioPipeline):
    model_type = "image_single_classification"
    requires = ("sklearn", "PIL")
    extra = "classification"
    media = "image"
    description = (
        "Single-label image classification: colour histograms + 16x16 grey pixels + "
        "logistic regression, one per radio question"
    )

    def __init__(self, *, c: float = 1.0) -> None:
        self.c = c

    def featurize(self, examples: Sequence[Example]) -> Any:
        import numpy as np

        return np.stack([image_features(e) for e in examples]) if examples else np.zeros((0, 0))

    def classifier(self) -> Any:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegression(C=self.c, max_iter=2000))

    def hyperparameters(self) -> dict[str, Any]:
        return {"features": f"rgb histogram ({BINS} bins) + {THUMBNAIL}x{THUMBNAIL} grey pixels",
                "classifier": "logistic_regression", "C": self.c}


def image_features(example: Example) -> Any:
    """Colour histograms and downscaled grey pixels of an encoded image."""
    import numpy as np

    with opened_image(example) as image:
        image.draft("RGB", (THUMBNAIL * 4, THUMBNAIL * 4))  # cheap JPEG downscale on decode
        rgb = image.convert("RGB")
    pixels = np.asarray(rgb.resize((THUMBNAIL, THUMBNAIL)), dtype=np.float32) / 255.0
    histogram = np.concatenate([
        np.histogram(pixels[..., channel], bins=BINS, range=(0.0, 1.0))[0] / pixels[..., 0].size
        for channel in range(3)
    ])
    grey = pixels.mean(axis=2).ravel()
    return np.concatenate([histogram, grey])
