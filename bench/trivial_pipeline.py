"""A genuinely trivial pipeline for bench/e2e.py: predicts the training split's most
frequent answer to every radio question for every row. No scikit-learn, no fitting, so a
run's training costs little more than the trainer's child process. bench/e2e.py copies this
file into a temporary folder next to a dist-info that registers it under the
``trainbridge.pipelines`` entry point group (as pip would install a third-party plug-in) and
puts that folder on the children's PYTHONPATH; it is never imported from here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from eventlog.contract import Answer, Radio
from services.trainer.pipeline import (
    Dataset,
    Evaluation,
    Example,
    Pipeline,
    Prediction,
    ProgressCallback,
    TrainedModel,
    no_progress,
    split_sizes,
    with_splits,
)


class MajorityClass(Pipeline):
    model_type = "bench_majority_class"
    description = "Benchmark pipeline: predicts the majority answer of the training split"
    learns = "radio"

    def prepare(self, examples: Sequence[Example]) -> Dataset:
        split = with_splits(examples)
        return Dataset(examples=split, sizes=split_sizes(split))

    def train(self, dataset: Dataset, progress: ProgressCallback = no_progress) -> TrainedModel:
        counts = Counter((a.feature, a.answer.name) for e in dataset.examples
                         if e.split == "training" for a in e.annotations
                         if isinstance(a, Radio))
        best: dict[str, tuple[str, int]] = {}
        for (feature, answer), count in counts.items():
            if count > best.get(feature, ("", 0))[1]:
                best[feature] = (answer, count)
        return TrainedModel(model={f: a for f, (a, _) in best.items()},
                            hyperparameters={"rule": "majority class"})

    def predict(self, model: TrainedModel, dataset: Dataset) -> list[Prediction]:
        answers = tuple(Radio(f, Answer(a, 1.0)) for f, a in sorted(model.model.items()))
        return [Prediction(e.data_row_id, answers, 1.0) for e in dataset.examples]

    def evaluate(self, model: TrainedModel, dataset: Dataset,
                 predictions: Sequence[Prediction]) -> Evaluation:
        scored = [e for e in dataset.examples if e.labelled]
        right = sum(a.answer.name == model.model.get(a.feature) for e in scored
                    for a in e.annotations if isinstance(a, Radio))
        answered = sum(isinstance(a, Radio) for e in scored for a in e.annotations)
        return Evaluation(split="all labelled", examples=len(scored),
                          scores={"accuracy": right / answered if answered else 0.0},
                          headline="accuracy")
