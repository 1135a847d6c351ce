"""``text_single_classification``: TF-IDF features and a logistic regression per radio
question, on CPU."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.trainer.pipeline import Example
from services.trainer.pipelines.radio import RadioPipeline


def text_of(content: str | bytes) -> str:
    return content.decode("utf-8", "replace") if isinstance(content, bytes) else content


class TextClassification(RadioPipeline):
    model_type = "text_single_classification"
    requires = ("sklearn",)
    extra = "classification"
    description = (
        "Single-label text classification: TF-IDF word and bigram features + logistic "
        "regression, one per radio question"
    )

    def __init__(self, *, c: float = 10.0, max_features: int = 50_000) -> None:
        self.c = c
        self.max_features = max_features

    def featurize(self, examples: Sequence[Example]) -> list[str]:
        return [text_of(e.content) for e in examples]

    def classifier(self) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        return make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), max_features=self.max_features, sublinear_tf=True),
            LogisticRegression(C=self.c, max_iter=1000),
        )

    def hyperparameters(self) -> dict[str, Any]:
        return {"features": "tfidf(1-2 grams)", "max_features": self.max_features,
                "classifier": "logistic_regression", "C": self.c}
