"""Small generated datasets: separable enough that a real learner clears a quality bar a
constant predictor cannot."""

from __future__ import annotations

import random

from eventlog.contract import Answer, Radio
from services.trainer.pipeline import Example, Split


def radio_example(data_row_id: str, content: str | bytes, answer: str | None,
                  split: Split | None = None, feature: str = "topic") -> Example:
    """A data row labelled with one radio answer (``None``: unlabelled)."""
    annotations = (Radio(feature, Answer(answer)),) if answer is not None else ()
    return Example(data_row_id, content, annotations, answer is not None, split)


def label_of(example: Example) -> str | None:
    """The first radio answer of a row."""
    return next((a.answer.name for a in example.annotations if isinstance(a, Radio)), None)

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
            radio_example(f"dr-{i}", " ".join(words), label if i < n else None, split)
        )
    return examples


def png(colour: tuple[int, int, int], rng: random.Random, size: int = 24) -> bytes:
    """A noisy image of mostly ``colour``, PNG-encoded as a data row's URL would serve it."""
    import io

    from PIL import Image

    image = Image.new("RGB", (size, size))
    image.putdata([
        tuple(max(0, min(255, c + rng.randint(-60, 60))) for c in colour)  # type: ignore[misc]
        for _ in range(size * size)
    ])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def plain_png(width: int, height: int) -> bytes:
    """A flat-coloured PNG of that size: an image with nothing in it."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


COLOURS = {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 200)}


def image_examples(n: int = 120, *, seed: int = 3, unlabelled: int = 0) -> list[Example]:
    rng = random.Random(seed)
    labels = sorted(COLOURS)
    return [
        radio_example(f"img-{i}", png(COLOURS[labels[i % 3]], rng),
                      labels[i % 3] if i < n else None, feature="colour")
        for i in range(n + unlabelled)
    ]
