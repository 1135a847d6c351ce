"""``ner``: named entities in text, learnt by a linear-chain CRF (CRFsuite, L-BFGS) over
words, word shapes, affixes and the words around them, with a BIO tag per token.

Why a CRF rather than spaCy's neural NER: with a few hundred labelled rows, most names a
model meets at prediction time are new to it, so what generalises is context ("moved from _
to") and word shape, which a CRF weighs directly. On the sample export's held-out rows
(600 rows, names unseen in training) spaCy's NER from a blank pipeline reached micro-F1 0.86
after 11-12 s of CPU, this CRF 0.95 after 0.5 s. Its marginal probabilities give each entity
an honest confidence, its only dependency is the small ``python-crfsuite`` binding, and its
training is deterministic (batch L-BFGS, no sampling). CRFsuite writes its model to a file:
training uses a temporary directory, and the model keeps the file's bytes.

Labelbox spans (``end`` INCLUSIVE) become the tokens they touch; of overlapping spans the
first to start is kept (the longer on a tie). A predicted entity runs from the first
character of its first token to the last character of its last token, so it never starts
or ends with whitespace."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eventlog.contract import TextEntity
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
from services.trainer.scoring.entities import score_entities

TOKEN = re.compile(r"\w+(?:['\u2019-]\w+)*|[^\w\s]")
"""Words (with inner apostrophes and hyphens: O'Brien, Wi-Fi) and single punctuation marks."""
OUTSIDE = "O"
Span = tuple[int, int]
"""A token's characters, ``end`` EXCLUSIVE."""
Features = dict[str, str | float]


@dataclass(frozen=True)
class CrfTagger:
    """A trained CRFsuite model (its model file's bytes, so it pickles as is) and how many
    words on either side of a token its features look at."""

    model: bytes
    context: int


class NamedEntities(Pipeline):
    model_type = "ner"
    media = "text"
    learns = "text_entity"
    requires = ("pycrfsuite",)
    extra = "ner"
    description = (
        "Named entity recognition: character spans of every entity class in the labels "
        "(person, organization, city, ...), learnt by a linear-chain CRF over words, word "
        "shapes, affixes and context words; each entity with its marginal probability"
    )

    def __init__(self, *, c1: float = 0.1, c2: float = 0.05, max_iterations: int = 100,
                 context: int = 2) -> None:
        self.c1 = c1
        self.c2 = c2
        self.max_iterations = max_iterations
        self.context = context

    def prepare(self, examples: Sequence[Example]) -> Dataset:
        checked = [_checked(e) for e in with_splits(examples)]
        training = [e for e in checked if e.split == "training" and e.labelled]
        if not any(e.annotations for e in training):
            raise DataError(f"no text entity in the {len(training)} labelled training rows: "
                            "nothing to learn")
        classes = sorted({a.feature for e in checked for a in e.annotations})
        return Dataset(examples=checked, features=classes, sizes=split_sizes(checked))

    def train(self, dataset: Dataset, progress: ProgressCallback = no_progress) -> TrainedModel:
        import pycrfsuite

        trainer = pycrfsuite.Trainer(algorithm="lbfgs", verbose=False)
        trainer.message = _IterationLog(progress, self.max_iterations).feed
        for example in dataset.examples:
            if example.split == "training" and example.labelled:
                text, tokens = str(example.content), _tokens(str(example.content))
                trainer.append(_features(text, tokens, self.context),
                               _gold_tags(tokens, _entities(example)))
        trainer.set_params({"c1": self.c1, "c2": self.c2, "max_iterations": self.max_iterations,
                            "feature.possible_transitions": True})
        with tempfile.TemporaryDirectory(prefix="ner-") as folder:
            path = os.path.join(folder, "model.crfsuite")
            trainer.train(path)
            with open(path, "rb") as file:
                model = file.read()
        return TrainedModel(CrfTagger(model, self.context), self._hyperparameters())

    def predict(self, model: TrainedModel, dataset: Dataset) -> list[Prediction]:
        """Each entity's confidence is the lowest marginal probability of its tokens' tags;
        the row's ``confidence`` is the probability of its whole predicted tagging (that
        these, and no other, are its entities), so rows without an entity have one too."""
        import pycrfsuite

        crf: CrfTagger = model.model
        tagger = pycrfsuite.Tagger()
        tagger.open_inmemory(crf.model)
        predictions = []
        for example in dataset.examples:
            text = str(example.content)
            tokens = _tokens(text)
            if not tokens:
                predictions.append(Prediction(example.data_row_id, ()))
                continue
            tags = tagger.tag(_features(text, tokens, crf.context))
            entities = tuple(TextEntity(feature, tokens[first][0], tokens[last][1] - 1,
                                        _probability(min(tagger.marginal(tags[i], i)
                                                         for i in range(first, last + 1))))
                             for feature, first, last in _decoded(tags))
            predictions.append(Prediction(example.data_row_id, entities,
                                          _probability(tagger.probability(tags))))
        return predictions

    def evaluate(self, model: TrainedModel, dataset: Dataset,
                 predictions: Sequence[Prediction]) -> Evaluation:
        split, scored = evaluated_split(dataset.examples)
        return score_entities(
            split,
            {e.data_row_id: _entities(e) for e in scored},
            {p.data_row_id: [a for a in p.annotations if isinstance(a, TextEntity)]
             for p in predictions},
        )

    def _hyperparameters(self) -> dict[str, Any]:
        return {"model": "linear-chain CRF (CRFsuite)", "algorithm": "lbfgs", "c1": self.c1,
                "c2": self.c2, "max_iterations": self.max_iterations,
                "context_words": self.context, "tags": "BIO", "tokens": TOKEN.pattern}


class _IterationLog:
    """CRFsuite's training log, read for one progress report per L-BFGS iteration."""

    HEAD = re.compile(r"\*+ Iteration #(\d+) \*+")

    def __init__(self, progress: ProgressCallback, total: int) -> None:
        self.progress = progress
        self.total = total
        self.iteration = 0

    def feed(self, line: str) -> None:
        if head := self.HEAD.match(line):
            self.iteration = int(head[1])
        elif line.startswith("Loss: ") and self.iteration:
            self.progress(Progress(self.iteration, self.total, "iteration",
                                   float(line.removeprefix("Loss: "))))


def _checked(example: Example) -> Example:
    where = f"data row {example.data_row_id}"
    text = example.content
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise DataError(f"{where}: is not text ({len(text)} bytes that are not UTF-8); "
                            "the ner model type learns from text rows") from None
    entities = tuple(a for a in example.annotations if isinstance(a, TextEntity))
    for entity in entities:
        at = f"{where}: entity {entity.feature!r}"
        if entity.start > entity.end:
            raise DataError(f"{at} starts after it ends (start {entity.start}, "
                            f"end {entity.end})")
        if entity.start < 0 or entity.end >= len(text):
            raise DataError(f"{at} spans characters {entity.start}-{entity.end} (end "
                            f"inclusive), outside the text's {len(text)} characters")
    return Example(example.data_row_id, text, entities, example.labelled, example.split)


def _entities(example: Example) -> list[TextEntity]:
    return [a for a in example.annotations if isinstance(a, TextEntity)]


def _tokens(text: str) -> list[Span]:
    return [match.span() for match in TOKEN.finditer(text)]


def _shape(word: str) -> str:
    """``Xx`` for Lisbon, ``X'Xx`` for O'Brien, ``d`` for 2024: character classes, runs of
    one class collapsed."""
    shape = re.sub(r"\d", "d", re.sub("[a-z]", "x", re.sub("[A-Z]", "X", word)))
    return re.sub(r"(.)\1+", r"\1", shape)


def _features(text: str, tokens: Sequence[Span], context: int) -> list[Features]:
    words = [text[start:end] for start, end in tokens]
    lower = [word.lower() for word in words]
    items = []
    for i, word in enumerate(words):
        item: Features = {"bias": 1.0, "word": lower[i], "shape": _shape(word),
                          "prefix": lower[i][:3], "suffix": lower[i][-3:]}
        if i == 0:
            item["first"] = 1.0
        for offset in (*range(-context, 0), *range(1, context + 1)):
            j = i + offset
            inside = 0 <= j < len(words)
            item[f"{offset}:word"] = lower[j] if inside else "<edge>"
            item[f"{offset}:shape"] = _shape(words[j]) if inside else "<edge>"
        item["-1:word|shape"] = f"{item['-1:word']}|{item['shape']}"
        items.append(item)
    return items


def _gold_tags(tokens: Sequence[Span], entities: Sequence[TextEntity]) -> list[str]:
    """BIO tags; a span takes every token it touches; a span overlapping an earlier one (by
    start, the longer first, then by class) is left out."""
    tags = [OUTSIDE] * len(tokens)
    for entity in sorted(entities, key=lambda e: (e.start, -e.end, e.feature)):
        touched = [i for i, (start, end) in enumerate(tokens)
                   if start <= entity.end and end > entity.start]
        if touched and all(tags[i] == OUTSIDE for i in touched):
            tags[touched[0]] = f"B-{entity.feature}"
            for i in touched[1:]:
                tags[i] = f"I-{entity.feature}"
    return tags


def _decoded(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(class, first token, last token) of each entity; an ``I-`` tag that does not continue
    an entity of its class starts one."""
    found: list[tuple[str, int, int]] = []
    for i, tag in enumerate(tags):
        if tag == OUTSIDE:
            continue
        prefix, feature = tag.split("-", 1)
        if prefix == "I" and found and found[-1][0] == feature and found[-1][2] == i - 1:
            found[-1] = (feature, found[-1][1], i)
        else:
            found.append((feature, i, i))
    return found


def _probability(value: float) -> float:
    return min(1.0, max(0.0, float(value)))
