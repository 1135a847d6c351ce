"""Scores of radio answers: accuracy over every (data row, question) answered, macro-F1 per
question averaged over the questions, F1 per answer and a confusion matrix per question."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from services.trainer.pipeline import Evaluation


def score_radio(
    split: str,
    examples: int,
    truth: Mapping[str, Sequence[str]],
    guessed: Mapping[str, Sequence[str]],
) -> Evaluation:
    """``truth[feature]`` and ``guessed[feature]``: the answers of the rows that answered
    ``feature``, in the same order."""
    from sklearn.metrics import confusion_matrix, f1_score

    correct = total = 0
    macro: list[float] = []
    per_answer: dict[str, float] = {}
    confusion: dict[str, dict[str, dict[str, int]]] = {}
    for feature, true in truth.items():
        if not true:
            continue
        guess = list(guessed[feature])
        names = sorted(set(true) | set(guess))
        correct += sum(t == g for t, g in zip(true, guess, strict=True))
        total += len(true)
        f1 = f1_score(true, guess, labels=names, average=None, zero_division=0)
        macro.append(float(f1.mean()))
        per_answer.update({f"{feature}/{name}": float(v) for name, v in zip(names, f1,
                                                                           strict=True)})
        matrix = confusion_matrix(true, guess, labels=names)
        confusion[feature] = {t: {p: int(matrix[i][j]) for j, p in enumerate(names)}
                              for i, t in enumerate(names)}
    return Evaluation(
        split=split, examples=examples,
        scores={"accuracy": correct / total if total else 0.0,
                "macro_f1": sum(macro) / len(macro) if macro else 0.0},
        headline="accuracy", per_class={"f1": per_answer}, confusion=confusion,
    )
