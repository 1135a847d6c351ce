"""Small generated datasets: separable enough that a real learner clears a quality bar a
constant predictor cannot."""

from __future__ import annotations

import random

from services.trainer.pipeline import Example, Split

VOCABULARY = {
    "sports": ["goal", "match", "striker", "league", "referee", "penalty", "coach", "season"],
    "finance": ["stock", "bond", "yield", "market", "dividend", "equity", "inflation", "bank"],
    "weather": ["rain", "storm", "forecast", "sunny", "humid", "wind", "snow", "cloudy"],
}
NOISE = ["the", "a", "today", "report", "new", "big", "says", "after", "week", "people"]


def text_examples(
    n: int = 300, *, seed: int = 7, with_splits: bool = False, unlabelled: int = 0
) -> list[Example]:
    rng = random.Random(seed)
    labels = sorted(VOCABULARY)
    examples = []
    for i in range(n + unlabelled):
        label = labels[i % len(labels)]
        words = rng.choices(VOCABULARY[label], k=3) + rng.choices(NOISE, k=5)
        rng.shuffle(words)
        split: Split | None = None
        if with_splits:
            split = "training" if i % 5 < 3 else "validation" if i % 5 == 3 else "test"
        examples.append(
            Example(f"dr-{i}", " ".join(words), label if i < n else None, split)
        )
    return examples
