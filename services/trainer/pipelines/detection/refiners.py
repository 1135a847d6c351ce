"""Box regression: per class, a ridge regression from a window's features to the offsets
(:func:`~services.trainer.pipelines.detection.boxes.offsets`) that move it onto its box."""

from __future__ import annotations

from typing import Any

from services.trainer.pipelines.detection.training_windows import Samples, stacked


def fit_refiners(samples: list[Samples]) -> dict[int, Any]:
    """Per class with enough windows: a ridge regression from features to offsets."""
    import numpy as np
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, labels = stacked(samples)
    offsets = np.concatenate([s[2] for s in samples])
    refiners = {}
    for label in np.unique(labels[labels > 0]):
        rows = labels == label
        if rows.sum() >= 10:
            refiners[int(label)] = make_pipeline(StandardScaler(), Ridge(alpha=10.0)).fit(
                features[rows], offsets[rows])
    return refiners
