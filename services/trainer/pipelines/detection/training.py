"""Fitting a detector: window sizes from the training boxes, a first screen, rounds of
hard-negative mining, the booster on what the screen lets through, and box regression."""

from __future__ import annotations

from dataclasses import dataclass

from services.trainer.pipeline import DataError, Example, Progress, ProgressCallback
from services.trainer.pipelines.detection.arrays import Array
from services.trainer.pipelines.detection.channels import image_channels
from services.trainer.pipelines.detection.classifiers import (
    Cascade,
    fit_booster,
    fit_screen,
    log_loss,
)
from services.trainer.pipelines.detection.detector import Detector
from services.trainer.pipelines.detection.hard_negatives import (
    background_candidates,
    hardest,
    screened,
    with_background,
)
from services.trainer.pipelines.detection.images import Picture, boxes_of, ground_truth
from services.trainer.pipelines.detection.refiners import fit_refiners
from services.trainer.pipelines.detection.training_windows import initial_samples
from services.trainer.pipelines.detection.window_sizes import anchor_sizes
from services.trainer.pipelines.detection.windows import pad_for


@dataclass(frozen=True)
class TrainingSettings:
    anchors: int
    """How many window sizes k-means looks for (a few more may cover odd boxes)."""
    mining_rounds: int
    c: float
    iterations: int
    learning_rate: float
    screen_floor: float
    keep: int
    seed: int


def fit_detector(training: list[tuple[Example, Picture]], settings: TrainingSettings,
                 progress: ProgressCallback) -> Detector:
    """Reports ``mining_rounds + 2`` rounds, each with the log loss on its samples: the
    first screen, each mining round's screen, then the booster."""
    import numpy as np

    rng = np.random.default_rng(settings.seed)
    classes = sorted({b.feature for e, _ in training for b in boxes_of(e)})
    truths = [ground_truth(e, p, classes) for e, p in training]
    anchors = anchor_sizes(np.concatenate([t[:, 2:4] - t[:, 0:2] for t in truths]),
                           settings.anchors, rng)
    channels = [image_channels(p.rgb, pad_for(anchors, t))
                for (_, p), t in zip(training, truths, strict=True)]
    samples = [initial_samples(c, t, anchors, rng)
               for c, t in zip(channels, truths, strict=True)]
    if not any((s[1] == 0).any() for s in samples):
        raise DataError("no background to learn from: the boxes cover every training "
                        "image")
    total = settings.mining_rounds + 2
    screen = fit_screen(samples, settings.c, len(classes) + 1)
    progress(Progress(1, total, unit="round", loss=log_loss(screen, samples)))
    candidates: list[Array | None] = [None] * len(channels)
    for round_ in range(2, settings.mining_rounds + 2):
        for i, (c, truth) in enumerate(zip(channels, truths, strict=True)):
            left = candidates[i]
            if left is None:
                left = background_candidates(c, truth, anchors, screen)
            hard, candidates[i] = hardest(left, screen)
            samples[i] = with_background(samples[i], hard)
        screen = fit_screen(samples, settings.c, len(classes) + 1)
        progress(Progress(round_, total, unit="round", loss=log_loss(screen, samples)))
    kept = [screened(s, screen, settings.screen_floor) for s in samples]
    booster = fit_booster(kept, settings.iterations, settings.learning_rate, settings.seed)
    cascade = Cascade(screen, booster, settings.keep, len(classes) + 1)
    progress(Progress(total, total, unit="round", loss=log_loss(cascade, kept)))
    return Detector(classes, anchors, cascade, fit_refiners(samples))
