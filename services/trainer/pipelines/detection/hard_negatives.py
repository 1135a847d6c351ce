"""Background windows picked by what the screen takes for an object: the hard negatives
each mining round adds, and the samples the booster learns from."""

from __future__ import annotations

from services.trainer.pipelines.detection.arrays import Array
from services.trainer.pipelines.detection.channels import Channels
from services.trainer.pipelines.detection.classifiers import LinearScreen
from services.trainer.pipelines.detection.training_windows import (
    BACKGROUND_IOU,
    Samples,
    matches,
)
from services.trainer.pipelines.detection.window_features import scan

CANDIDATES = 150
"""Per training image, the background windows mining rounds after the first look at."""
HARD_NEGATIVES = 20
"""Per training image and mining round, the background windows added to the samples."""


def background_candidates(channels: Channels, truth: Array, anchors: Array,
                          screen: LinearScreen) -> Array:
    """The features of the CANDIDATES background windows of the image that the screen
    takes most for an object: where each mining round looks for hard negatives."""
    import numpy as np

    windows, features = scan(channels, anchors)
    if not len(windows):
        return features
    best, _ = matches(windows, truth)
    background = features[best < BACKGROUND_IOU]
    objectness = 1.0 - screen.predict_proba(background)[:, 0]
    return background[np.argsort(-objectness)[:CANDIDATES]]


def hardest(candidates: Array, screen: LinearScreen) -> tuple[Array, Array]:
    """The HARD_NEGATIVES candidates the screen takes most for an object (when it does at
    all), and the candidates left."""
    import numpy as np

    if not len(candidates):
        return candidates, candidates
    objectness = 1.0 - screen.predict_proba(candidates)[:, 0]
    top = np.argsort(-objectness)[:HARD_NEGATIVES]
    hard = top[objectness[top] > 0.05]
    return candidates[hard], np.delete(candidates, hard, axis=0)


def with_background(samples: Samples, features: Array) -> Samples:
    import numpy as np

    return (np.concatenate([samples[0], features]),
            np.concatenate([samples[1], np.zeros(len(features), dtype=np.int64)]),
            np.concatenate([samples[2], np.full((len(features), 4), np.nan)]))


def screened(samples: Samples, screen: LinearScreen, floor: float) -> Samples:
    """The objects, and the background windows the screen would let through (at least
    the few it takes most for an object)."""
    import numpy as np

    objectness = 1.0 - screen.predict_proba(samples[0])[:, 0]
    background = samples[1] == 0
    keep = ~background | (objectness >= floor)
    keep[np.flatnonzero(background)[np.argsort(-objectness[background])[:5]]] = True
    return samples[0][keep], samples[1][keep], samples[2][keep]
