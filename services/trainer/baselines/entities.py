"""The ``ner`` baseline: every capitalised word that does not start the text is an entity of
the class most frequent in the training split, with that class's share of the training
entities as its confidence. It knows neither context nor where a multi-word name ends."""

from __future__ import annotations

import re
from collections import Counter

from eventlog.contract import TextEntity
from services.trainer.pipeline import Dataset, Prediction

CAPITALISED_WORD = re.compile(r"(?<![\w'-])[A-Z][\w'-]*")


def baseline(dataset: Dataset) -> list[Prediction]:
    classes: Counter[str] = Counter(
        entity.feature
        for example in dataset.examples if example.split == "training" and example.labelled
        for entity in example.of_kind("text_entity") if isinstance(entity, TextEntity)
    )
    if not classes:
        return [Prediction(e.data_row_id, ()) for e in dataset.examples]
    feature, count = classes.most_common(1)[0]
    share = count / classes.total()
    predictions = []
    for example in dataset.examples:
        text = str(example.content)
        first = len(text) - len(text.lstrip())
        entities = tuple(TextEntity(feature, m.start(), m.end() - 1, share)
                         for m in CAPITALISED_WORD.finditer(text) if m.start() != first)
        predictions.append(Prediction(example.data_row_id, entities,
                                      share if entities else None))
    return predictions
