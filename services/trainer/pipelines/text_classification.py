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
        sizes = {s: sum(e.split == s for e in split) for s in ("training", "validation", "test")}
        sizes["unlabelled"] = sum(e.label is None for e in split)
        return Dataset(examples=split, sizes=sizes)

    def train(self, dataset: Dataset) -> TrainedModel:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        training = [e for e in dataset.examples if e.split == "training" and e.label is not None]
        labels = sorted({e.label for e in training if e.label is not None})
        if len(labels) < 2:
            raise ValueError(
                f"need at least 2 labelled classes in the training split, found {len(labels)}"
            )
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
        probabilities = model.model.predict_proba([str(e.content) for e in dataset.examples])
        classes = [str(c) for c in model.model.classes_]
        predictions = []
        for example, row in zip(dataset.examples, probabilities, strict=True):
            scores = {label: float(p) for label, p in zip(classes, row, strict=True)}
            best = max(scores, key=scores.__getitem__)
            predictions.append(Prediction(example.data_row_id, best, scores[best], scores))
        return predictions


def _text(content: str | bytes) -> str:
    return content.decode("utf-8", "replace") if isinstance(content, bytes) else content
