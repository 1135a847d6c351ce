"""A genuinely trivial pipeline for bench/e2e.py: predicts the training split's majority
class for every row. No scikit-learn, no fitting, so a run's training costs little more
than the trainer's child process. bench/e2e.py copies this file into a temporary folder
next to a dist-info that registers it under the ``trainbridge.pipelines`` entry point group
(as pip would install a third-party plug-in) and puts that folder on the children's
PYTHONPATH; it is never imported from here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from services.trainer.pipeline import (
    Dataset,
    Evaluation,
    Example,
    Pipeline,
    Prediction,
    TrainedModel,
    assign_split,
    split_sizes,
    training_labels,
)


class MajorityClass(Pipeline):
    model_type = "bench_majority_class"
    description = "Benchmark pipeline: predicts the majority class of the training split"

    def prepare(self, examples: Sequence[Example]) -> Dataset:
        split = [Example(e.data_row_id, "", e.label, assign_split(e.data_row_id, e.split))
                 for e in examples]
        return Dataset(examples=split, sizes=split_sizes(split))

    def train(self, dataset: Dataset) -> TrainedModel:
        labels = training_labels(dataset.examples)
        counts = Counter(e.label for e in dataset.examples
                         if e.split == "training" and e.label is not None)
        return TrainedModel(model=counts.most_common(1)[0][0],
                            hyperparameters={"rule": "majority class"}, labels=labels)

    def predict(self, model: TrainedModel, dataset: Dataset) -> list[Prediction]:
        return [Prediction(e.data_row_id, model.model, 1.0, {model.model: 1.0})
                for e in dataset.examples]

    def evaluate(self, model: TrainedModel, dataset: Dataset) -> Evaluation:
        scored = [e for e in dataset.examples if e.label is not None]
        right = sum(e.label == model.model for e in scored)
        confusion = {label: {model.model: sum(e.label == label for e in scored)}
                     for label in model.labels}
        return Evaluation(split="all labelled", examples=len(scored),
                          accuracy=right / len(scored) if scored else 0.0,
                          macro_f1=0.0, confusion=confusion)
