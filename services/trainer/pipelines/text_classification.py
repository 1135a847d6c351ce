"""``text_single_classification``: TF-IDF features and a logistic regression, on CPU."""

from __future__ import annotations

from collections.abc import Sequence

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


class TextClassification(Pipeline):
    model_type = "text_single_classification"
    description = (
        "Single-label text classification: TF-IDF word and bigram features + logistic regression"
    )

    def __init__(self, *, c: float = 10.0, max_features: int = 50_000) -> None:
        self.c = c
        self.max_features = max_features

    def prepare(self, examples: Sequence[Example]) -> Dataset:
        split = [
            Example(e.data_row_id, _text(e.content), e.label, assign_split(e.data_row_id, e.split))
            for e in examples
        ]
        return Dataset(examples=split, sizes=split_sizes(split))

    def train(self, dataset: Dataset) -> TrainedModel:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        training = [e for e in dataset.examples if e.split == "training" and e.label is not None]
        labels = training_labels(dataset.examples)
        model = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), max_features=self.max_features, sublinear_tf=True),
            LogisticRegression(C=self.c, max_iter=1000),
        )
        model.fit([str(e.content) for e in training], [e.label for e in training])
        return TrainedModel(
            model=model,
            hyperparameters={"features": "tfidf(1-2 grams)", "max_features": str(self.max_features),
                             "classifier": "logistic_regression", "C": str(self.c)},
            labels=labels,
        )

    def predict(self, model: TrainedModel, dataset: Dataset) -> list[Prediction]:
        if not dataset.examples:
            return []
        texts = [str(e.content) for e in dataset.examples]
        return predictions_from(
            dataset.examples, model.model.classes_, model.model.predict_proba(texts)
        )


def _text(content: str | bytes) -> str:
    return content.decode("utf-8", "replace") if isinstance(content, bytes) else content
