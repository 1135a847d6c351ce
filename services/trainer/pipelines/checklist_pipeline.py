"""What the two checklist (multi-label) pipelines share: every checklist question of the
ontology is learnt at once, one binary classifier per option, each trained on the rows that
answered its question (a row that did not answer it is unlabelled for it; an answered
question with nothing ticked teaches "none of these"). Subclasses say how rows become
features, how those are encoded for the classifiers, and which classifier learns them."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

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
from services.trainer.pipelines.checklist_model import (
    THRESHOLD,
    ChecklistModel,
    QuestionModel,
    fit_question,
)
from services.trainer.pipelines.checklist_truth import (
    check_learnable,
    questions,
    training_answers,
)
from services.trainer.scoring.multilabel import score_checklists


class ChecklistPipeline(Pipeline):
    learns = "checklist"

    @abstractmethod
    def featurize(self, examples: Sequence[Example]) -> Any:
        """A numpy array with a row (a text, or a feature vector) per example."""

    @abstractmethod
    def encoder(self) -> Any:
        """A fresh scikit-learn transformer from featurized rows to the classifiers' input,
        fitted on the training rows that answered a checklist question."""

    @abstractmethod
    def classifier(self) -> Any:
        """A fresh, unfitted binary scikit-learn classifier with ``predict_proba``."""

    @abstractmethod
    def hyperparameters(self) -> dict[str, Any]: ...

    def prepare(self, examples: Sequence[Example]) -> Dataset:
        split = with_splits(examples)
        check_learnable(split)
        return Dataset(examples=split, features=self.featurize(split), sizes=split_sizes(split))

    def train(self, dataset: Dataset, progress: ProgressCallback = no_progress) -> TrainedModel:
        check_learnable(dataset.examples)
        answers = training_answers(dataset.examples)
        learnt = questions(dataset.examples)
        encoder = self.encoder().fit(dataset.features[sorted(answers)])
        models: list[QuestionModel] = []
        for step, (feature, options) in enumerate(learnt.items(), start=1):
            rows = [i for i in sorted(answers) if feature in answers[i]]
            features = encoder.transform(dataset.features[rows])
            ticked = [answers[i][feature] for i in rows]
            model = fit_question(feature, options, features, ticked, self.classifier)
            models.append(model)
            progress(Progress(step, len(learnt), unit="question",
                              loss=model.loss(features, ticked)))
        if all(o.classifier is None for q in models for o in q.options):
            raise DataError("checklist answers: every training row that answers a question "
                            "ticks the same options, nothing to learn ("
                            + ", ".join(f"{f!r}: {list(o)}" for f, o in learnt.items()) + ")")
        return TrainedModel(model=ChecklistModel(encoder, tuple(models)), hyperparameters={
            **self.hyperparameters(),
            "threshold": THRESHOLD,
            "questions": {q.feature: [o.name for o in q.options] for q in models},
            "training_rows": {q.feature: q.rows for q in models},
        })

    def predict(self, model: TrainedModel, dataset: Dataset) -> list[Prediction]:
        if not dataset.examples:
            return []
        checklists: ChecklistModel = model.model
        answers, sureness = checklists.predict(dataset.features)
        return [Prediction(e.data_row_id, row, confidence)
                for e, row, confidence in zip(dataset.examples, answers, sureness, strict=True)]

    def evaluate(self, model: TrainedModel, dataset: Dataset,
                 predictions: Sequence[Prediction]) -> Evaluation:
        split, scored = evaluated_split(dataset.examples)
        return score_checklists(split, scored, predictions)
