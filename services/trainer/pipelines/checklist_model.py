"""A trained checklist model: per question, one binary classifier per option (one-vs-rest),
each trained only on the rows that answered its question, and what it predicts for a row.

Written out rather than with scikit-learn's ``OneVsRestClassifier``, which collapses a
one-option question into a binary problem and only warns about an option every training
row agrees on: here such an option is simply a constant probability."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eventlog.contract import Answer, Checklist

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

THRESHOLD = 0.5
"""An option is predicted ticked when its probability reaches this."""


@dataclass(frozen=True)
class OptionModel:
    """P(the option is ticked | row): a fitted classifier, or ``constant`` when every
    training row that answered the question agreed on it."""

    name: str
    classifier: Any = None
    constant: float = 0.0

    def probabilities(self, features: Any) -> NDArray[np.float64]:
        import numpy as np

        if self.classifier is None:
            return np.full(features.shape[0], self.constant)
        return np.asarray(self.classifier.predict_proba(features)[:, 1], dtype=np.float64)


@dataclass(frozen=True)
class QuestionModel:
    feature: str
    options: tuple[OptionModel, ...]
    rows: int
    """How many training rows answered the question (what it was trained on)."""

    def probabilities(self, features: Any) -> NDArray[np.float64]:
        """A row per example, a column per option."""
        import numpy as np

        if not self.options:
            return np.zeros((features.shape[0], 0))
        return np.stack([o.probabilities(features) for o in self.options], axis=1)

    def checklists(self, probabilities: NDArray[np.float64]) -> list[Checklist]:
        """Per row of ``probabilities``, the options whose probability reaches
        :data:`THRESHOLD`, each with its probability as confidence."""
        return [Checklist(self.feature, tuple(
            Answer(option.name, float(p))
            for option, p in zip(self.options, row, strict=True) if p >= THRESHOLD))
            for row in probabilities]

    def loss(self, features: Any, answers: Sequence[frozenset[str]]) -> float | None:
        """Mean log-loss over the options, on rows that ticked ``answers``."""
        import numpy as np

        if not self.options:
            return None
        ticked = np.array([[o.name in a for o in self.options] for a in answers])
        p = np.clip(self.probabilities(features), 1e-7, 1 - 1e-7)
        return float(-np.mean(np.where(ticked, np.log(p), np.log(1 - p))))


def fit_question(feature: str, options: Sequence[str], features: Any,
                 answers: Sequence[frozenset[str]], classifier: Callable[[], Any]
                 ) -> QuestionModel:
    """Fit one classifier per option on ``features`` (a row per answer in ``answers``)."""
    fitted = []
    for option in options:
        target = [option in a for a in answers]
        if all(target) or not any(target):
            fitted.append(OptionModel(option, constant=float(target[0])))
        else:
            fitted.append(OptionModel(option, classifier().fit(features, target)))
    return QuestionModel(feature, tuple(fitted), len(answers))


def sureness(probabilities: NDArray[np.float64]) -> list[float | None]:
    """Per row (of every option's probability), how sure the model is of its answers: the
    mean over the options of max(p, 1 - p), from 0.5 (a coin toss on each) to 1."""
    import numpy as np

    if not probabilities.shape[1]:
        return [None] * probabilities.shape[0]
    return [float(v) for v in np.maximum(probabilities, 1 - probabilities).mean(axis=1)]


@dataclass(frozen=True)
class ChecklistModel:
    """The fitted ``encoder`` (a pipeline's rows to the classifiers' input) and a model per
    question."""

    encoder: Any
    questions: tuple[QuestionModel, ...]

    def predict(self, rows: Any) -> tuple[list[tuple[Checklist, ...]], list[float | None]]:
        """Per row, a checklist per question (with no option when none is predicted), and
        the row's :func:`sureness`."""
        import numpy as np

        features = self.encoder.transform(rows)
        probabilities = [q.probabilities(features) for q in self.questions]
        per_question = [q.checklists(p)
                        for q, p in zip(self.questions, probabilities, strict=True)]
        checklists = [tuple(row) for row in zip(*per_question, strict=True)]
        return checklists, sureness(np.concatenate(probabilities, axis=1))
