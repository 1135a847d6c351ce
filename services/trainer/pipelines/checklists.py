"""``text_multi_classification`` and ``image_multi_classification``: every checklist
question at once, a logistic regression per option, on CPU (see ``checklist_pipeline``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.trainer.pipeline import Example
from services.trainer.pipelines.checklist_pipeline import ChecklistPipeline
from services.trainer.pipelines.text_classification import text_of

CLASSIFIER = "logistic regression per option (one-vs-rest), L1-regularised (liblinear)"


class TextChecklists(ChecklistPipeline):
    model_type = "text_multi_classification"
    requires = ("sklearn",)
    extra = "classification"
    media = "text"
    description = (
        "Multi-label text classification: every checklist question at once, TF-IDF word and "
        "bigram features + an L1-regularised logistic regression per option (one-vs-rest), "
        "each trained on the rows that answered its question"
    )

    def __init__(self, *, c: float = 10.0, max_features: int = 50_000) -> None:
        self.c = c
        self.max_features = max_features

    def featurize(self, examples: Sequence[Example]) -> Any:
        import numpy as np

        return np.array([text_of(e.content) for e in examples], dtype=object)

    def encoder(self) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer(ngram_range=(1, 2), max_features=self.max_features,
                               sublinear_tf=True)

    def classifier(self) -> Any:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=self.c, l1_ratio=1.0, solver="liblinear", random_state=0)

    def hyperparameters(self) -> dict[str, Any]:
        return {"features": "tfidf(1-2 grams, sublinear tf)",
                "max_features": self.max_features, "classifier": CLASSIFIER, "C": self.c}


class ImageChecklists(ChecklistPipeline):
    model_type = "image_multi_classification"
    requires = ("sklearn", "PIL")
    extra = "classification"
    media = "image"
    description = (
        "Multi-label image classification: every checklist question at once, colour "
        "histograms + edge orientation histograms + downscaled grey pixels, standardised, "
        "+ an L1-regularised logistic regression per option (one-vs-rest), each trained on "
        "the rows that answered its question"
    )

    def __init__(self, *, c: float = 1.0) -> None:
        self.c = c

    def featurize(self, examples: Sequence[Example]) -> Any:
        import numpy as np

        from services.trainer.pipelines.checklist_image_features import image_features

        return np.stack([image_features(e) for e in examples]) if examples else np.zeros((0, 0))

    def encoder(self) -> Any:
        from sklearn.preprocessing import StandardScaler

        return StandardScaler()

    def classifier(self) -> Any:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=self.c, l1_ratio=1.0, solver="liblinear", random_state=0)

    def hyperparameters(self) -> dict[str, Any]:
        from services.trainer.pipelines.checklist_image_features import DESCRIPTION

        return {"features": DESCRIPTION, "scaling": "standardised",
                "classifier": CLASSIFIER, "C": self.c}
