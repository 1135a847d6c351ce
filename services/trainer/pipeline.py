"""The pipeline plug-in interface. A pipeline is pure computation: the trainer fetches the
data, stores artifacts and appends events around it, so a pipeline never does I/O of its own
beyond what its libraries do in memory.

A pipeline learns one kind of Labelbox annotation (``learns``): every ontology feature of
that kind in the model run's labels (two radio questions; boxes of three classes; person and
city entities). It predicts the same annotation types, each with a confidence.

Add your own by subclassing :class:`Pipeline` and registering the class under the Python
entry point group ``trainbridge.pipelines`` (see docs/pipelines.md)."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from eventlog.contract import Annotation, AnnotationKind

Split = Literal["training", "validation", "test"]
SPLITS: tuple[Split, ...] = ("training", "validation", "test")
Media = Literal["text", "image"]


class DataError(ValueError):
    """The export cannot train this model type; the message (one line, naming the problem
    and the data row) is what the Labelbox UI shows on the FAILED run."""


@dataclass(frozen=True)
class Example:
    """One Labelbox data row: its content (decoded text, or the encoded image's bytes), its
    ground truth, and Labelbox's split (``None``: the pipeline assigns one).

    ``labelled``: the row has a label in the model run. An unlabelled row is predicted,
    never trained on. A labelled row without an annotation of some feature is unlabelled
    *for that feature* if the feature is a classification (the question was not answered),
    and has no such object if the feature is an object (a box or an entity class)."""

    data_row_id: str
    content: str | bytes
    annotations: tuple[Annotation, ...] = ()
    labelled: bool = False
    split: Split | None = None

    def of_kind(self, kind: AnnotationKind) -> list[Annotation]:
        return [a for a in self.annotations if a.kind == kind]


@dataclass(frozen=True)
class Prediction:
    """A data row's predicted annotations (each with its confidence), and the row's
    ``confidence`` metric (``None``: none that means something for this model type)."""

    data_row_id: str
    annotations: tuple[Annotation, ...]
    confidence: float | None = None


@dataclass(frozen=True)
class Evaluation:
    split: str
    """Which examples were scored (``test``, else ``validation``, else ``training``)."""
    examples: int
    scores: dict[str, float]
    """Run-level scores, e.g. ``{"map50": 0.8}``; ``headline`` names the one bars apply to."""
    headline: str
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    """``per_class[metric][class]``, e.g. ``{"ap50": {"car": 0.9}}``."""
    confusion: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    """``confusion[feature][true][predicted]`` counts (radio answers)."""


@dataclass
class Dataset:
    """What ``prepare`` returns: the examples by split, plus pipeline-specific features."""

    examples: list[Example]
    features: Any = None
    sizes: dict[str, int] = field(default_factory=dict)


@dataclass
class TrainedModel:
    model: Any
    hyperparameters: dict[str, Any]
    """JSON values: sent to Labelbox with ``ModelRun.update_config``."""


@dataclass(frozen=True)
class Progress:
    """How far a long stage is: ``step`` of ``total`` ``unit``s (``epoch 3 of 10``)."""

    step: int
    total: int
    unit: str = "epoch"
    loss: float | None = None


ProgressCallback = Callable[[Progress], None]


def no_progress(progress: Progress) -> None:
    """The default: nobody is watching."""


def assign_split(data_row_id: str, split: Split | None) -> Split:
    """Labelbox's split when given, else a deterministic 80/10/10 split by data row id."""
    if split is not None:
        return split
    bucket = int(hashlib.sha256(data_row_id.encode()).hexdigest(), 16) % 10
    return "training" if bucket < 8 else "validation" if bucket == 8 else "test"


def with_splits(examples: Sequence[Example]) -> list[Example]:
    """The examples, each with a split."""
    return [Example(e.data_row_id, e.content, e.annotations, e.labelled,
                    assign_split(e.data_row_id, e.split)) for e in examples]


def split_sizes(examples: Sequence[Example]) -> dict[str, int]:
    """Examples per split, and how many have no label (the stage metadata)."""
    sizes: dict[str, int] = {split: sum(e.split == split for e in examples) for split in SPLITS}
    sizes["unlabelled"] = sum(not e.labelled for e in examples)
    return sizes


def evaluated_split(examples: Sequence[Example]) -> tuple[str, list[Example]]:
    """The held-out labelled examples to score: ``test``, else ``validation``, else
    ``training`` (a tiny run is better scored on what it saw than not at all)."""
    for split in ("test", "validation", "training"):
        scored = [e for e in examples if e.split == split and e.labelled]
        if scored:
            return split, scored
    return "test", []


class Pipeline(ABC):
    model_type: ClassVar[str]
    """The key Labelbox sees in GET /models and sends back as ``modelType``."""
    description: ClassVar[str] = ""
    media: ClassVar[Media] = "text"
    """What the trainer fetches for it: decoded text, or the raw bytes of an image."""
    learns: ClassVar[AnnotationKind]
    """The annotation kind it learns and predicts."""
    requires: ClassVar[tuple[str, ...]] = ()
    """Modules it imports while training, e.g. ``("spacy",)``; a trainer without them does
    not offer the model type (heavy libraries come in extras of their own)."""
    extra: ClassVar[str] = "trainer"
    """The package extra that installs ``requires``: ``pip install 'trainbridge[<extra>]'``."""

    @abstractmethod
    def prepare(self, examples: Sequence[Example]) -> Dataset:
        """Assign splits, check the ground truth and build features (PREPARING_DATA).
        Raise :class:`DataError` for data it cannot learn from."""

    @abstractmethod
    def train(self, dataset: Dataset, progress: ProgressCallback = no_progress) -> TrainedModel:
        """Fit on the labelled training examples (TRAINING_MODEL), calling ``progress``
        as it goes where training has steps worth watching."""

    @abstractmethod
    def predict(self, model: TrainedModel, dataset: Dataset) -> list[Prediction]:
        """A prediction for every example, labelled or not."""

    @abstractmethod
    def evaluate(self, model: TrainedModel, dataset: Dataset,
                 predictions: Sequence[Prediction]) -> Evaluation:
        """Scores of ``predictions`` against the held-out labelled examples."""
