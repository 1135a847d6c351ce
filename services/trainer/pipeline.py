"""The pipeline plug-in interface. A pipeline is pure computation: the trainer fetches the
data, stores artifacts and appends events around it, so a pipeline never does I/O of its own
beyond what its libraries do in memory.

Add your own by subclassing :class:`Pipeline` and registering the class under the Python
entry point group ``trainbridge.pipelines`` (see README, "Add your own pipeline")."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

Split = Literal["training", "validation", "test"]
SPLITS: tuple[Split, ...] = ("training", "validation", "test")


@dataclass(frozen=True)
class Example:
    """One Labelbox data row: its content, its label (``None``: predict it, don't train on
    it) and Labelbox's split (``None``: the pipeline assigns one deterministically)."""

    data_row_id: str
    content: str | bytes
    label: str | None
    split: Split | None = None


@dataclass(frozen=True)
class Prediction:
    data_row_id: str
    label: str
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Evaluation:
    split: str
    """Which examples were scored (``test``, else ``validation``, else ``training``)."""
    examples: int
    accuracy: float
    macro_f1: float
    confusion: dict[str, dict[str, int]]
    """``confusion[true][predicted]`` counts."""


@dataclass
class Dataset:
    """What ``prepare`` returns: the examples by split, plus pipeline-specific features."""

    examples: list[Example]
    features: Any = None
    sizes: dict[str, int] = field(default_factory=dict)


@dataclass
class TrainedModel:
    model: Any
    hyperparameters: dict[str, str]
    labels: list[str]


def assign_split(data_row_id: str, split: Split | None) -> Split:
    """Labelbox's split when given, else a deterministic 80/10/10 split by data row id."""
    if split is not None:
        return split
    bucket = int(hashlib.sha256(data_row_id.encode()).hexdigest(), 16) % 10
    return "training" if bucket < 8 else "validation" if bucket == 8 else "test"


def split_sizes(examples: Sequence[Example]) -> dict[str, int]:
    """Examples per split, and how many have no label (the stage metadata)."""
    sizes: dict[str, int] = {split: sum(e.split == split for e in examples) for split in SPLITS}
    sizes["unlabelled"] = sum(e.label is None for e in examples)
    return sizes


def training_labels(examples: Sequence[Example]) -> list[str]:
    """The classes of the labelled training examples; at least two are needed to learn."""
    labels = sorted({e.label for e in examples if e.split == "training" and e.label is not None})
    if len(labels) < 2:
        raise ValueError(
            f"need at least 2 labelled classes in the training split, found {len(labels)}"
        )
    return labels


def predictions_from(
    examples: Sequence[Example], classes: Sequence[Any], probabilities: Any
) -> list[Prediction]:
    """One prediction per example from a classifier's ``predict_proba`` rows."""
    predictions = []
    for example, row in zip(examples, probabilities, strict=True):
        scores = {str(label): float(p) for label, p in zip(classes, row, strict=True)}
        best = max(scores, key=scores.__getitem__)
        predictions.append(Prediction(example.data_row_id, best, scores[best], scores))
    return predictions


class Pipeline(ABC):
    model_type: ClassVar[str]
    """The key Labelbox sees in GET /models and sends back as ``modelType``."""
    description: ClassVar[str] = ""
    media: ClassVar[Literal["text", "image"]] = "text"
    """What the trainer fetches for it: decoded text, or the raw bytes of an image."""

    @abstractmethod
    def prepare(self, examples: Sequence[Example]) -> Dataset:
        """Assign splits and build features (PREPARING_DATA)."""

    @abstractmethod
    def train(self, dataset: Dataset) -> TrainedModel:
        """Fit on the labelled training examples (TRAINING_MODEL)."""

    @abstractmethod
    def predict(self, model: TrainedModel, dataset: Dataset) -> list[Prediction]:
        """A prediction for every example, labelled or not."""

    def evaluate(self, model: TrainedModel, dataset: Dataset) -> Evaluation:
        """Accuracy, macro-F1 and confusion counts on the held-out labelled examples."""
        predictions = {p.data_row_id: p.label for p in self.predict(model, dataset)}
        for split in ("test", "validation", "training"):
            scored = [e for e in dataset.examples if e.split == split and e.label is not None]
            if scored:
                break
        truth = [e.label for e in scored if e.label is not None]
        guessed = [predictions[e.data_row_id] for e in scored]
        return score(split, truth, guessed, model.labels)


def score(split: str, truth: Sequence[str], guessed: Sequence[str],
          labels: Sequence[str]) -> Evaluation:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    names = sorted(set(labels) | set(truth) | set(guessed))
    matrix = confusion_matrix(truth, guessed, labels=names) if truth else None
    return Evaluation(
        split=split,
        examples=len(truth),
        accuracy=float(accuracy_score(truth, guessed)) if truth else 0.0,
        macro_f1=float(f1_score(truth, guessed, labels=names, average="macro", zero_division=0))
        if truth else 0.0,
        confusion={
            t: {p: int(matrix[i][j]) for j, p in enumerate(names)} for i, t in enumerate(names)
        } if matrix is not None else {},
    )
