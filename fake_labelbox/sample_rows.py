"""Export-v2 rows for a text classification model run, as ``ModelRun.export`` streams them.

Clearly positive or negative product reviews (classification ``sentiment``, radio answers
``positive`` / ``negative``), split 80/10/10 into training/validation/test: the built-in
``text_single_classification`` pipeline learns them."""

from __future__ import annotations

import random
from typing import Any

CLASSIFICATION = "sentiment"
POSITIVE = ["wonderful", "excellent", "delightful", "fantastic", "superb", "brilliant",
            "lovely", "perfect"]
NEGATIVE = ["terrible", "awful", "horrible", "dreadful", "useless", "disappointing",
            "broken", "worthless"]
PRAISE = ["I love it", "highly recommended", "would buy again", "made my day",
          "five stars", "works great"]
COMPLAINTS = ["I hate it", "avoid at all costs", "want a refund", "waste of money",
              "one star", "stopped working"]
THINGS = ["kettle", "phone case", "backpack", "lamp", "keyboard", "blender", "jacket",
          "umbrella", "headset", "notebook"]


def _split(index: int) -> str:
    bucket = (index // 2) % 10  # a positive and a negative row share each split
    return "training" if bucket < 8 else "validation" if bucket == 8 else "test"


def _sentence(rng: random.Random, positive: bool) -> str:
    adjectives, phrases = (POSITIVE, PRAISE) if positive else (NEGATIVE, COMPLAINTS)
    first, second = rng.sample(adjectives, 2)
    return (f"The {rng.choice(THINGS)} is {first}, really {second}. "
            f"{rng.choice(phrases).capitalize()}.")


def text_classification_rows(
    model_id: str, model_run_id: str, *, count: int = 60, seed: int = 0
) -> list[dict[str, Any]]:
    """``count`` rows alternating positive/negative, deterministic for a given seed."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        answer = "positive" if index % 2 == 0 else "negative"
        rows.append({
            "data_row": {
                "id": f"sample-dr-{index:04d}",
                "global_key": f"sample-review-{index:04d}",
                "row_data": _sentence(rng, answer == "positive"),
            },
            "media_attributes": {"mime_type": "text/plain"},
            "experiments": {
                model_id: {
                    "name": model_id,
                    "runs": {
                        model_run_id: {
                            "name": model_run_id,
                            "split": _split(index),
                            "labels": [{
                                "annotations": {
                                    "classifications": [{
                                        "name": CLASSIFICATION,
                                        "value": CLASSIFICATION,
                                        "radio_answer": {"name": answer, "value": answer},
                                    }],
                                    "objects": [],
                                    "relationships": [],
                                },
                            }],
                        },
                    },
                },
            },
        })
    return rows
