"""The cascade that tells a window's class, or background: a linear screen ranks every
window, gradient boosting classifies the ones the screen takes most for an object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.trainer.pipelines.detection.arrays import Array
from services.trainer.pipelines.detection.training_windows import Samples, stacked


@dataclass
class LinearScreen:
    """A standardised multinomial logistic regression folded into one matrix product;
    columns by label (0: background)."""

    weights: Array
    bias: Array

    def predict_proba(self, features: Array) -> Array:
        import numpy as np

        scores = features @ self.weights + self.bias
        scores -= scores.max(axis=1, keepdims=True)
        odds = np.exp(scores)
        return odds / odds.sum(axis=1, keepdims=True)


@dataclass
class Cascade:
    """The screen ranks every window; the booster classifies the ``keep`` it takes most for
    an object (above a floor of 1 %). Other windows are background."""

    screen: LinearScreen
    booster: Any
    keep: int
    labels: int
    """Background and the classes."""

    def probabilities(self, features: Array) -> tuple[Array, Array]:
        """The rows classified, and their class probabilities (column 0: background)."""
        import numpy as np

        objectness = 1.0 - self.screen.predict_proba(features)[:, 0]
        top = np.argsort(-objectness)[:self.keep]
        top = top[objectness[top] > 0.01]
        return top, self.predict_proba(features[top])

    def predict_proba(self, features: Array) -> Array:
        """Columns by label (0: background), zero for a class it never saw."""
        import numpy as np

        probabilities = np.zeros((len(features), self.labels))
        if len(features):
            probabilities[:, self.booster.classes_] = self.booster.predict_proba(features)
        return probabilities


def fit_screen(samples: list[Samples], c: float, labels: int) -> LinearScreen:
    """A logistic regression on standardised features, its columns by label (a class
    without samples never scores)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    features, seen = stacked(samples)
    mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-6
    model = LogisticRegression(C=c, max_iter=300).fit((features - mean) / scale, seen)
    if len(model.classes_) == 2:  # a single column of scores: split it in two
        coef = np.concatenate([-model.coef_, model.coef_]) / 2
        intercept = np.concatenate([-model.intercept_, model.intercept_]) / 2
    else:
        coef, intercept = model.coef_, model.intercept_
    weights = np.zeros((features.shape[1], labels), dtype=np.float32)
    bias = np.full(labels, -1e4, dtype=np.float32)
    weights[:, model.classes_] = (coef / scale).T
    bias[model.classes_] = intercept - (coef * mean / scale).sum(axis=1)
    return LinearScreen(weights, bias)


def fit_booster(samples: list[Samples], iterations: int, learning_rate: float,
                seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    features, labels = stacked(samples)
    return HistGradientBoostingClassifier(
        max_iter=iterations, learning_rate=learning_rate, max_leaf_nodes=15, max_bins=64,
        l2_regularization=1.0, early_stopping=False, random_state=seed).fit(features, labels)


def log_loss(classifier: LinearScreen | Cascade, samples: list[Samples]) -> float:
    """Log loss on the training samples."""
    import numpy as np

    features, labels = stacked(samples)
    probabilities = classifier.predict_proba(features)
    return float(-np.log(np.maximum(probabilities[np.arange(len(labels)), labels],
                                    1e-15)).mean())
