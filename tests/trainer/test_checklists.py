"""The checklist model types, ``text_multi_classification`` and ``image_multi_classification``:
each learns every checklist question of its sample export at once, far better than always
ticking the most frequent answers; it predicts every row with the ontology's names; a
question a row did not answer teaches nothing (unlike an answered "none of these"); bad data
fails with one line; and checklist scoring counts only the questions a row answered."""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from eventlog.contract import Answer, Checklist, Radio, prediction_lines
from fake_labelbox.samples.checklists import (
    IMAGE_QUESTIONS,
    TEXT_QUESTIONS,
    image_checklist_export,
    text_checklist_export,
)
from fake_labelbox.samples.export_row import SampleExport
from services.trainer.baselines.multilabel import baseline
from services.trainer.pipeline import (
    DataError,
    Dataset,
    Example,
    Media,
    Prediction,
    Progress,
    TrainedModel,
)
from services.trainer.pipelines.checklist_pipeline import ChecklistPipeline
from services.trainer.pipelines.checklists import ImageChecklists, TextChecklists
from services.trainer.scoring.multilabel import score_checklists
from tests.trainer.exported import BASE_URL, MODEL_ID, MODEL_RUN_ID, examples_from


@dataclass(frozen=True)
class ModelType:
    pipeline: Callable[[], ChecklistPipeline]
    export: Callable[..., SampleExport]
    media: Media
    questions: dict[str, tuple[str, ...]]


MODEL_TYPES = {
    "text": ModelType(TextChecklists, text_checklist_export, "text", TEXT_QUESTIONS),
    "image": ModelType(ImageChecklists, image_checklist_export, "image", IMAGE_QUESTIONS),
}


@dataclass
class Trained:
    kind: ModelType
    pipeline: ChecklistPipeline
    dataset: Dataset
    model: TrainedModel
    progress: list[Progress]
    predictions: list[Prediction]
    seconds: float


def sample(kind: ModelType, **options: int) -> list[Example]:
    return examples_from(kind.export(MODEL_ID, MODEL_RUN_ID, base_url=BASE_URL, **options),
                         kind.media)


@pytest.fixture(scope="module", params=sorted(MODEL_TYPES))
def trained(request: pytest.FixtureRequest) -> Trained:
    kind = MODEL_TYPES[request.param]
    pipeline = kind.pipeline()
    started = time.process_time()
    dataset = pipeline.prepare(sample(kind))
    progress: list[Progress] = []
    model = pipeline.train(dataset, progress.append)
    seconds = time.process_time() - started
    return Trained(kind, pipeline, dataset, model, progress,
                   pipeline.predict(model, dataset), seconds)


def answered(examples: list[Example], feature: str) -> list[Example]:
    return [e for e in examples if e.labelled
            and any(isinstance(a, Checklist) and a.feature == feature for a in e.annotations)]


def test_it_clears_the_quality_bar_the_most_frequent_answers_cannot(trained: Trained) -> None:
    evaluation = trained.pipeline.evaluate(trained.model, trained.dataset, trained.predictions)
    frequent = trained.pipeline.evaluate(trained.model, trained.dataset,
                                         baseline(trained.dataset))
    print(f"\n{trained.pipeline.model_type}: {evaluation.scores} per option "
          f"{evaluation.per_class} on {evaluation.examples} {evaluation.split} rows; "
          f"baseline {frequent.scores}; features + training {trained.seconds:.2f} s CPU")

    assert evaluation.split == frequent.split == "test" and evaluation.examples >= 20
    assert evaluation.headline == "micro_f1"
    assert evaluation.scores["micro_f1"] >= 0.85
    assert frequent.scores["micro_f1"] <= evaluation.scores["micro_f1"] - 0.2


def test_every_data_row_gets_one_checklist_per_question_named_as_the_ontology(
        trained: Trained) -> None:
    assert [p.data_row_id for p in trained.predictions] == [
        e.data_row_id for e in trained.dataset.examples]
    ticked: dict[str, set[str]] = {}
    for prediction in trained.predictions:
        checklists = [a for a in prediction.annotations if isinstance(a, Checklist)]
        assert len(checklists) == len(prediction.annotations)
        assert sorted(c.feature for c in checklists) == sorted(trained.kind.questions)
        for checklist in checklists:
            ticked.setdefault(checklist.feature, set()).update(a.name for a in checklist.answers)

    assert {f: set(o) for f, o in trained.kind.questions.items()} == ticked


def test_each_ticked_option_carries_its_probability_and_each_row_how_sure_it_is(
        trained: Trained) -> None:
    for prediction in trained.predictions:
        assert prediction.confidence is not None and 0.5 <= prediction.confidence <= 1
        for checklist in prediction.annotations:
            assert isinstance(checklist, Checklist)
            assert all(a.confidence is not None and 0.5 <= a.confidence <= 1
                       for a in checklist.answers)
    sure = sorted(trained.predictions, key=lambda p: p.confidence or 0.0)
    assert (sure[0].confidence or 0.0) < (sure[-1].confidence or 0.0)


def test_a_checklist_predicted_empty_uploads_no_line(trained: Trained) -> None:
    prediction = next(p for p in trained.predictions
                      if any(isinstance(a, Checklist) and not a.answers for a in p.annotations))
    empty = {a.feature for a in prediction.annotations
             if isinstance(a, Checklist) and not a.answers}

    lines = prediction_lines(MODEL_RUN_ID, prediction.data_row_id, prediction.annotations,
                             prediction.confidence)
    assert not empty & {line.get("name") for line in lines}
    assert lines[-1]["metricName"] == "confidence"


def test_each_question_is_trained_on_the_labelled_training_rows_that_answered_it(
        trained: Trained) -> None:
    training = [e for e in trained.dataset.examples if e.split == "training"]
    rows = trained.model.hyperparameters["training_rows"]

    assert trained.dataset.sizes["unlabelled"] > 0
    assert rows == {f: len(answered(training, f)) for f in trained.kind.questions}
    assert min(rows.values()) < sum(e.labelled for e in training)


def test_training_reports_each_question_with_its_loss(trained: Trained) -> None:
    questions = len(trained.kind.questions)

    assert [(p.step, p.total, p.unit) for p in trained.progress] == [
        (step, questions, "question") for step in range(1, questions + 1)]
    assert all(p.loss is not None and 0 <= p.loss < 0.69 for p in trained.progress)


def test_hyperparameters_are_json_values_naming_the_questions_learnt(trained: Trained) -> None:
    hyperparameters = trained.model.hyperparameters

    assert json.loads(json.dumps(hyperparameters)) == hyperparameters
    assert hyperparameters["questions"] == {
        f: sorted(o) for f, o in trained.kind.questions.items()}
    assert {"features", "classifier", "C", "threshold"} <= set(hyperparameters)


def test_the_model_survives_a_pickle_round_trip_and_training_is_deterministic(
        trained: Trained) -> None:
    restored = pickle.loads(pickle.dumps(trained.model))
    again = trained.pipeline.train(trained.dataset)

    assert trained.pipeline.predict(restored, trained.dataset) == trained.predictions
    assert trained.pipeline.predict(again, trained.dataset) == trained.predictions


def test_an_unanswered_question_teaches_nothing_unlike_a_none_of_these_answer() -> None:
    """Half the training rows that tick a flag leave the question unanswered: they are not
    trained on for it, and the flags are still learnt. Had they answered "none of these"
    instead (what treating unanswered as none would amount to), the model would learn that
    flagged tickets are often unflagged, and miss flags."""
    examples = sample(MODEL_TYPES["text"])
    flagged = [e.data_row_id for e in answered(examples, "flags")
               if e.split == "training" and any(
                   a.answers for a in e.annotations
                   if isinstance(a, Checklist) and a.feature == "flags")]
    hidden = set(flagged[::2])

    def flags_f1(flags: Callable[[Checklist], tuple[Checklist, ...]]) -> tuple[float, int]:
        rows = [replace(e, annotations=tuple(
            b for a in e.annotations for b in (
                flags(a) if a.feature == "flags" and isinstance(a, Checklist) else (a,))))
            if e.data_row_id in hidden else e for e in examples]
        pipeline = TextChecklists()
        dataset = pipeline.prepare(rows)
        model = pipeline.train(dataset)
        f1 = pipeline.evaluate(model, dataset, pipeline.predict(model, dataset)).per_class["f1"]
        flag_f1 = [v for option, v in f1.items() if option.startswith("flags/")]
        return sum(flag_f1) / len(flag_f1), model.hyperparameters["training_rows"]["flags"]

    unanswered, unanswered_rows = flags_f1(lambda a: ())
    none_of_these, none_rows = flags_f1(lambda a: (Checklist("flags", ()),))

    assert unanswered_rows == none_rows - len(hidden)
    assert unanswered >= 0.7
    assert none_of_these <= unanswered - 0.2


def rows_with(*answers: tuple[str, tuple[Checklist | Radio, ...]]) -> list[Example]:
    return [Example(f"dr-{i}", text, annotations, True, "training")
            for i, (text, annotations) in enumerate(answers)]


def test_an_export_without_checklist_answers_cannot_train() -> None:
    rows = rows_with(("refund please", (Radio("tone", Answer("angry")),)),
                     ("thanks", (Radio("tone", Answer("calm")),)))

    with pytest.raises(DataError, match=r"^no checklist answers in the model run's labels"
                       ) as failure:
        TextChecklists().prepare(rows)
    assert "\n" not in str(failure.value)


def test_checklist_answers_only_on_held_out_rows_cannot_train() -> None:
    rows = [replace(e, split="test") for e in rows_with(
        ("refund please", (Checklist("flags", (Answer("refund"),)),)))]

    with pytest.raises(DataError, match=r"no training row answers a checklist question.*dr-0"):
        TextChecklists().prepare(rows)


def test_training_rows_that_all_tick_the_same_options_leave_nothing_to_learn() -> None:
    same = (Checklist("flags", (Answer("refund"),)),)
    pipeline = TextChecklists()

    with pytest.raises(DataError, match=r"every training row .* ticks the same options"):
        pipeline.train(pipeline.prepare(rows_with(("refund", same), ("money back", same))))


@pytest.mark.parametrize(("content", "message"), [
    pytest.param("a ticket, not an image", "expected image bytes", id="text"),
    pytest.param(b"\x89PNG broken", "not a readable image", id="corrupt"),
])
def test_a_row_that_is_no_image_fails_with_one_line_naming_it(
        content: str | bytes, message: str) -> None:
    good = sample(MODEL_TYPES["image"], count=12)
    bad = Example("dr-7", content, (Checklist("shapes", (Answer("circle"),)),), True)

    with pytest.raises(DataError, match=f"^data row dr-7: {message}") as failure:
        ImageChecklists().prepare([*good, bad])
    assert "\n" not in str(failure.value)


def scored(*rows: tuple[tuple[Checklist, ...], tuple[Checklist, ...] | None]
           ) -> tuple[list[Example], list[Prediction]]:
    """(truth, predicted) per row; ``None``: the row has no prediction."""
    examples = [Example(f"dr-{i}", "", truth, True, "test") for i, (truth, _) in enumerate(rows)]
    predictions = [Prediction(f"dr-{i}", guess) for i, (_, guess) in enumerate(rows)
                   if guess is not None]
    return examples, predictions


def checklist(feature: str, *options: str) -> Checklist:
    return Checklist(feature, tuple(Answer(o, 0.9) for o in options))


def test_scoring_counts_each_option_decision_only_on_rows_that_answered_the_question() -> None:
    examples, predictions = scored(
        ((checklist("topics", "billing", "bug"),),              # billing hit, bug missed
         (checklist("topics", "billing", "shipping"),           # shipping: a false alarm
          checklist("flags", "urgent"))),                       # flags unanswered: not scored
        ((checklist("flags"),),                                 # answered "none of these"
         (checklist("flags", "urgent"),)),                      # urgent: a false alarm
    )

    evaluation = score_checklists("test", examples, predictions)

    hits, false_alarms, misses = 1, 2, 1
    assert evaluation.scores["micro_f1"] == pytest.approx(
        2 * hits / (2 * hits + false_alarms + misses))
    assert evaluation.per_class == {"f1": {"topics/billing": 1.0, "topics/bug": 0.0,
                                           "topics/shipping": 0.0, "flags/urgent": 0.0}}
    assert evaluation.scores["macro_f1"] == pytest.approx(1 / 4)
    assert evaluation.scores["exact_match"] == 0.0
    assert evaluation.headline == "micro_f1" and evaluation.examples == 2


def test_none_of_these_predicted_for_none_of_these_is_perfect() -> None:
    examples, predictions = scored(((checklist("flags"),), (checklist("flags"),)),
                                   ((checklist("flags", "refund"),),
                                    (checklist("flags", "refund"),)))

    evaluation = score_checklists("test", examples, predictions)

    assert evaluation.scores == {"micro_f1": 1.0, "macro_f1": 1.0, "exact_match": 1.0}


def test_a_scored_row_without_a_prediction_misses_all_its_ticks() -> None:
    examples, predictions = scored(((checklist("topics", "bug"),), (checklist("topics", "bug"),)),
                                   ((checklist("topics", "bug", "account"),), None))

    evaluation = score_checklists("validation", examples, predictions)

    assert evaluation.split == "validation"
    assert evaluation.per_class["f1"] == {"topics/account": 0.0,
                                          "topics/bug": pytest.approx(2 / 3)}
    assert evaluation.scores["exact_match"] == 0.5


def test_the_baseline_ticks_what_most_answering_training_rows_tick() -> None:
    rows = [
        *rows_with(
            ("", (checklist("topics", "billing", "bug"), checklist("flags", "urgent"))),
            ("", (checklist("topics", "billing"), checklist("flags"))),
            ("", (checklist("topics", "billing", "bug", "account"),
                  checklist("flags", "refund"))),
            ("", (checklist("topics", "account"),)),            # did not answer flags
        ),
        Example("dr-v", "", (checklist("flags", "refund"),), True, "validation"),
        Example("dr-u", "", (), False, "training"),
    ]

    predictions = baseline(Dataset(rows))

    assert {p.data_row_id for p in predictions} == {e.data_row_id for e in rows}
    assert set(predictions[0].annotations) == {
        Checklist("topics", (Answer("billing", 3 / 4),)),       # bug and account: 2 of 4
        Checklist("flags", (Answer("refund", 1 / 3),)),         # none above half: the first
    }                                                           # of the most frequent


@pytest.mark.parametrize("kind", sorted(MODEL_TYPES))
def test_the_sample_export_resembles_a_labelbox_checklist_project(kind: str) -> None:
    model_type = MODEL_TYPES[kind]
    export = model_type.export(MODEL_ID, MODEL_RUN_ID, base_url=BASE_URL, count=200, seed=4)
    examples = examples_from(export, model_type.media)

    assert export == model_type.export(MODEL_ID, MODEL_RUN_ID, base_url=BASE_URL, count=200,
                                       seed=4)
    assert [e.split for e in examples].count("training") == 160
    assert 0 < sum(not e.labelled for e in examples) < 40
    for feature, options in model_type.questions.items():
        rows = answered(examples, feature)
        ticks = [len(a.answers) for e in rows for a in e.annotations
                 if isinstance(a, Checklist) and a.feature == feature]
        assert 80 < len(rows) < sum(e.labelled for e in examples)
        assert {a.name for e in rows for c in e.annotations if isinstance(c, Checklist)
                and c.feature == feature for a in c.answers} == set(options)
        assert max(ticks) >= 2
    for row in export.rows:
        if kind == "image":
            media = row["media_attributes"]
            assert media["mime_type"] == "image/png"
            assert 64 <= media["width"] <= 96 and 64 <= media["height"] <= 96
            assert row["data_row"]["row_data"].startswith(f"{BASE_URL}/media/")
