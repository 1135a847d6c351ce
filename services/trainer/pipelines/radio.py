"""What the two single-label (radio) pipelines share: every radio question of the ontology
is learnt by a classifier of its own, trained on the rows that answered it; a row that did
not answer a question is unlabelled for it. Subclasses say how rows become features and
which classifier learns them."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eventlog.contract import Annotation, Answer, Radio
from services.trainer.pipeline import (
    DataError,
    Dataset,
    Evaluation,
    Example,
    Pipeline,
    Prediction,
    Progress,
    ProgressCallback,
    TrainedModel,
    evaluated_split,
    no_progress,
    split_sizes,
    with_splits,
)
from services.trainer.scoring.radio import score_radio


def answer_of(annotations: Sequence[Annotation], feature: str) -> str | None:
    """The radio answer to ``feature`` among a row's (true or predicted) annotations."""
    return next((a.answer.name for a in annotations
                 if isinstance(a, Radio) and a.feature == feature), None)


def radio_questions(examples: Sequence[Example]) -> list[str]:
    return sorted({a.feature for e in examples for a in e.annotations if isinstance(a, Radio)})


def take(features: Any, rows: Sequence[int]) -> Any:
    """Rows of a feature matrix, or of a list of texts."""
    return features[list(rows)] if hasattr(features, "shape") else [features[i] for i in rows]


@dataclass
class Question:
    """One radio question's classifier; ``only`` when training saw a single answer."""

    classifier: Any
    only: str | None = None


class RadioPipeline(Pipeline):
    learns = "radio"

    @abstractmethod
    def featurize(self, examples: Sequence[Example]) -> Any:
        """A feature row (or a text) per example, indexable by a list of row numbers."""

    @abstractmethod
    def classifier(self) -> Any:
        """A fresh, unfitted scikit-learn classifier with ``predict_proba``."""

    @abstractmethod
    def hyperparameters(self) -> dict[str, Any]: ...

    def prepare(self, examples: Sequence[Example]) -> Dataset:
        split = with_splits(examples)
        return Dataset(examples=split, features=self.featurize(split), sizes=split_sizes(split))

    def train(self, dataset: Dataset, progress: ProgressCallback = no_progress) -> TrainedModel:
        questions = radio_questions(dataset.examples)
        models: dict[str, Question] = {}
        for number, feature in enumerate(questions, start=1):
            rows = [i for i, e in enumerate(dataset.examples)
                    if e.split == "training" and answer_of(e.annotations, feature) is not None]
            answers = [answer_of(dataset.examples[i].annotations, feature) for i in rows]
            if not rows:
                continue
            if len(set(answers)) == 1:
                models[feature] = Question(None, answers[0])
            else:
                classifier = self.classifier()
                classifier.fit(take(dataset.features, rows), answers)
                models[feature] = Question(classifier)
            progress(Progress(number, len(questions), unit="question"))
        if not any(q.classifier is not None for q in models.values()):
            raise DataError("radio answers: need at least 2 different answers to one question "
                            "in the training split, found "
                            + (", ".join(f"{f!r}: {models[f].only!r}" for f in models)
                               or "no answered question"))
        return TrainedModel(model=models, hyperparameters={
            **self.hyperparameters(), "questions": sorted(models)})

    def predict(self, model: TrainedModel, dataset: Dataset) -> list[Prediction]:
        if not dataset.examples:
            return []
        questions: dict[str, Question] = model.model
        answers: list[list[Radio]] = [[] for _ in dataset.examples]
        for feature, question in questions.items():
            if question.classifier is None:
                for row in answers:
                    row.append(Radio(feature, Answer(str(question.only), 1.0)))
                continue
            classes = [str(c) for c in question.classifier.classes_]
            for row, probabilities in zip(
                    answers, question.classifier.predict_proba(dataset.features), strict=True):
                best = int(probabilities.argmax())
                row.append(Radio(feature, Answer(classes[best], float(probabilities[best]))))
        return [
            Prediction(e.data_row_id, tuple(row),
                       sum(a.answer.confidence or 0.0 for a in row) / len(row) if row else None)
            for e, row in zip(dataset.examples, answers, strict=True)
        ]

    def evaluate(self, model: TrainedModel, dataset: Dataset,
                 predictions: Sequence[Prediction]) -> Evaluation:
        split, scored = evaluated_split(dataset.examples)
        predicted = {p.data_row_id: p for p in predictions}
        truth: dict[str, list[str]] = {}
        guessed: dict[str, list[str]] = {}
        for feature in radio_questions(dataset.examples):
            for example in scored:
                answer = answer_of(example.annotations, feature)
                if answer is None:
                    continue
                truth.setdefault(feature, []).append(answer)
                guess = answer_of(predicted[example.data_row_id].annotations, feature)
                guessed.setdefault(feature, []).append(guess or "")
        return score_radio(split, len(scored), truth, guessed)
