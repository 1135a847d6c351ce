"""The ``ner`` model type: it finds entities it never saw in training, far better than
tagging capitalised words; it predicts every row with inclusive, trimmed spans of the
ontology's classes; its model pickles; bad data fails with one line naming the row; and
entity scoring counts exact matches only."""

from __future__ import annotations

import json
import pickle
import time
from dataclasses import dataclass, replace

import pytest

from eventlog.contract import Radio, TextEntity
from eventlog.contract.annotations import Answer
from fake_labelbox.samples.entities import ENTITY_CLASSES, entities_export
from services.trainer.baselines.entities import baseline
from services.trainer.pipeline import (
    DataError,
    Dataset,
    Example,
    Prediction,
    Progress,
    TrainedModel,
)
from services.trainer.pipelines.entities import NamedEntities
from services.trainer.scoring.entities import score_entities
from tests.trainer.exported import MODEL_ID, MODEL_RUN_ID, examples_from


@dataclass
class Trained:
    pipeline: NamedEntities
    dataset: Dataset
    model: TrainedModel
    progress: list[Progress]
    predictions: list[Prediction]
    seconds: float


@pytest.fixture(scope="module")
def trained() -> Trained:
    pipeline = NamedEntities()
    dataset = pipeline.prepare(examples_from(entities_export(MODEL_ID, MODEL_RUN_ID), "text"))
    progress: list[Progress] = []
    started = time.process_time()
    model = pipeline.train(dataset, progress.append)
    seconds = time.process_time() - started
    return Trained(pipeline, dataset, model, progress, pipeline.predict(model, dataset), seconds)


def entity(feature: str, start: int, end: int) -> TextEntity:
    return TextEntity(feature, start, end)


def test_it_finds_unseen_names_far_better_than_tagging_capitalised_words(
        trained: Trained) -> None:
    evaluation = trained.pipeline.evaluate(trained.model, trained.dataset, trained.predictions)
    trivial = trained.pipeline.evaluate(trained.model, trained.dataset,
                                        baseline(trained.dataset))
    print(f"\nner: micro-F1 {evaluation.scores} per class {evaluation.per_class} "
          f"on {evaluation.examples} {evaluation.split} rows; baseline {trivial.scores}; "
          f"training {trained.seconds:.2f} s CPU")

    assert evaluation.split == trivial.split == "test" and evaluation.examples >= 40
    assert evaluation.headline == "micro_f1"
    assert evaluation.scores["micro_f1"] >= 0.8
    assert min(evaluation.per_class["f1"].values()) >= 0.6
    assert trivial.scores["micro_f1"] <= evaluation.scores["micro_f1"] - 0.5


def test_the_test_split_only_holds_names_absent_from_the_training_rows(
        trained: Trained) -> None:
    def names(split: str) -> set[str]:
        return {str(e.content)[a.start:a.end + 1].lower() for e in trained.dataset.examples
                if e.split == split for a in e.annotations if isinstance(a, TextEntity)}

    assert names("test") and names("training")
    assert not names("test") & names("training")


def test_every_data_row_is_predicted_unlabelled_ones_too(trained: Trained) -> None:
    rows = [e.data_row_id for e in trained.dataset.examples]

    assert [p.data_row_id for p in trained.predictions] == rows
    assert trained.dataset.sizes["unlabelled"] > 0
    assert sum(trained.dataset.sizes[s] for s in ("training", "validation", "test")) == len(rows)


def test_predicted_spans_are_inclusive_trimmed_and_carry_a_probability(
        trained: Trained) -> None:
    texts = {e.data_row_id: str(e.content) for e in trained.dataset.examples}
    found = 0
    for prediction in trained.predictions:
        text = texts[prediction.data_row_id]
        assert prediction.confidence is None or 0 <= prediction.confidence <= 1
        for annotation in prediction.annotations:
            assert isinstance(annotation, TextEntity) and annotation.confidence is not None
            assert 0 <= annotation.start <= annotation.end < len(text)
            token = text[annotation.start:annotation.end + 1]
            assert token == token.strip() and token
            assert 0 <= annotation.confidence <= 1
            found += 1
    assert found > len(trained.predictions) // 2


def test_predicted_feature_names_are_exactly_the_ontology_classes(trained: Trained) -> None:
    predicted = {a.feature for p in trained.predictions for a in p.annotations}

    assert predicted == set(ENTITY_CLASSES) == set(trained.dataset.features)


def test_right_entities_are_more_confident_than_wrong_ones(trained: Trained) -> None:
    truth = {e.data_row_id: set(e.annotations) for e in trained.dataset.examples
             if e.split != "training" and e.labelled}
    right: list[float] = []
    wrong: list[float] = []
    for prediction in trained.predictions:
        for a in prediction.annotations:
            if prediction.data_row_id in truth and isinstance(a, TextEntity):
                exact = replace(a, confidence=None) in truth[prediction.data_row_id]
                (right if exact else wrong).append(a.confidence or 0.0)

    assert right and wrong
    assert sum(right) / len(right) > sum(wrong) / len(wrong)


def test_training_reports_each_iteration_with_a_falling_loss(trained: Trained) -> None:
    steps = [p.step for p in trained.progress]
    limit = trained.model.hyperparameters["max_iterations"]

    assert steps == list(range(1, len(steps) + 1)) and 10 <= len(steps) <= limit
    assert {(p.total, p.unit) for p in trained.progress} == {(limit, "iteration")}
    losses = [p.loss for p in trained.progress if p.loss is not None]
    assert len(losses) == len(steps) and losses[-1] < losses[0]


def test_hyperparameters_are_json_values(trained: Trained) -> None:
    hyperparameters = trained.model.hyperparameters

    assert json.loads(json.dumps(hyperparameters)) == hyperparameters
    assert {"c1", "c2", "max_iterations", "context_words"} <= set(hyperparameters)


def test_the_model_survives_a_pickle_round_trip_and_predicts_the_same(
        trained: Trained) -> None:
    restored = pickle.loads(pickle.dumps(trained.model))

    assert trained.pipeline.predict(restored, trained.dataset) == trained.predictions


def test_training_is_deterministic(trained: Trained) -> None:
    again = trained.pipeline.train(trained.dataset)

    assert again.model == trained.model.model


def test_overlapping_and_mid_word_spans_are_learnt_as_whole_tokens() -> None:
    text = "Dr Ana Lopez flew to Porto."
    rows = [Example(f"dr-{i}", text, (entity("person", 3, 11), entity("person", 7, 11),
                                      entity("city", 22, 24)), True, "training")
            for i in range(6)]
    pipeline = NamedEntities(max_iterations=30)
    dataset = pipeline.prepare(rows)
    [prediction, *_] = pipeline.predict(pipeline.train(dataset), dataset)

    assert {(a.feature, text[a.start:a.end + 1]) for a in prediction.annotations
            if isinstance(a, TextEntity)} == {("person", "Ana Lopez"), ("city", "Porto")}


def test_other_annotation_kinds_are_ignored_and_a_text_without_entities_is_all_outside(
        ) -> None:
    rows = [Example("dr-1", "Nothing to see here.", (Radio("tone", Answer("calm")),), True,
                    "training"),
            Example("dr-2", "Ask Ana Lopez.", (entity("person", 4, 12),), True, "training")]
    dataset = NamedEntities().prepare(rows)

    assert dataset.examples[0].annotations == ()
    assert dataset.features == ["person"]


BAD_ROWS = [
    pytest.param(Example("dr-7", "Ana met Bo.", (entity("person", -1, 2),), True),
                 r"^data row dr-7: entity 'person' spans characters -1-2", id="negative start"),
    pytest.param(Example("dr-7", "Ana met Bo.", (entity("city", 8, 11),), True),
                 r"^data row dr-7: entity 'city' spans characters 8-11 .*11 characters",
                 id="end past the text"),
    pytest.param(Example("dr-7", "Ana met Bo.", (entity("person", 5, 2),), True),
                 r"^data row dr-7: entity 'person' starts after it ends", id="start after end"),
    pytest.param(Example("dr-7", b"\x89PNG\r\n\x1a\n\x00\x00", (), True),
                 r"^data row dr-7: is not text", id="image bytes"),
]


@pytest.mark.parametrize(("bad", "message"), BAD_ROWS)
def test_bad_rows_fail_with_one_line_naming_the_data_row(bad: Example, message: str) -> None:
    good = Example("dr-1", "Ana lives in Porto.", (entity("city", 13, 17),), True, "training")

    with pytest.raises(DataError, match=message) as failure:
        NamedEntities().prepare([good, bad])
    assert "\n" not in str(failure.value)


def test_an_export_without_a_training_entity_cannot_train() -> None:
    rows = [Example(f"dr-{i}", "Nothing here.", (), True, "training") for i in range(3)]

    with pytest.raises(DataError, match="no text entity in the 3 labelled training rows"):
        NamedEntities().prepare(rows)


def test_exact_span_and_class_are_a_hit() -> None:
    truth = {"dr-1": [entity("person", 0, 2), entity("city", 8, 12)]}
    guessed = {"dr-1": [TextEntity("person", 0, 2, 0.9), TextEntity("city", 8, 12, 0.8)]}

    evaluation = score_entities("test", truth, guessed)

    assert evaluation.scores == {"micro_f1": 1.0, "precision": 1.0, "recall": 1.0}
    assert evaluation.per_class == {"f1": {"city": 1.0, "person": 1.0}}


def test_an_off_by_one_span_is_a_miss_and_a_false_alarm() -> None:
    truth = {"dr-1": [entity("person", 0, 2), entity("city", 8, 12)]}
    guessed = {"dr-1": [entity("person", 0, 3), entity("city", 8, 12)]}

    evaluation = score_entities("test", truth, guessed)

    assert evaluation.scores == {"micro_f1": 0.5, "precision": 0.5, "recall": 0.5}
    assert evaluation.per_class["f1"] == {"city": 1.0, "person": 0.0}


def test_the_right_span_with_the_wrong_class_is_a_miss() -> None:
    truth = {"dr-1": [entity("person", 0, 2)], "dr-2": [entity("city", 0, 4)]}
    guessed = {"dr-1": [entity("city", 0, 2)], "dr-2": [entity("city", 0, 4)]}

    evaluation = score_entities("test", truth, guessed)

    assert evaluation.scores["precision"] == evaluation.scores["recall"] == 0.5
    assert evaluation.per_class["f1"] == {"city": pytest.approx(2 / 3), "person": 0.0}


def test_a_scored_row_without_a_prediction_misses_all_its_entities() -> None:
    truth = {"dr-1": [entity("person", 0, 2)], "dr-2": [entity("person", 0, 2)]}
    guessed = {"dr-1": [entity("person", 0, 2)]}

    evaluation = score_entities("validation", truth, guessed)

    assert evaluation.split == "validation" and evaluation.examples == 2
    assert evaluation.scores == {"micro_f1": pytest.approx(2 / 3), "precision": 1.0,
                                 "recall": 0.5}


def test_the_baseline_tags_capitalised_words_after_the_first_as_the_commonest_class() -> None:
    rows = [Example("dr-1", "Ana met Bo in Porto.", (entity("person", 0, 2),
                                                     entity("person", 8, 9),
                                                     entity("city", 14, 18)), True, "training"),
            Example("dr-2", "  Then Ana saw Lisbon", (), False, "test")]
    predictions = baseline(NamedEntities().prepare(rows))

    text = "  Then Ana saw Lisbon"
    tagged = [a for a in predictions[1].annotations if isinstance(a, TextEntity)]
    assert [(a.feature, text[a.start:a.end + 1]) for a in tagged] == [
        ("person", "Ana"), ("person", "Lisbon")]
    assert [a.confidence for a in tagged] == pytest.approx([2 / 3, 2 / 3])


def test_the_sample_exports_spans_as_labelbox_does() -> None:
    sample = entities_export(MODEL_ID, MODEL_RUN_ID, count=200, seed=3)
    objects = []
    for row in sample.rows:
        assert row["media_attributes"] == {"mime_type": "text/plain"}
        text = row["data_row"]["row_data"]
        for label in row["experiments"][MODEL_ID]["runs"][MODEL_RUN_ID]["labels"]:
            found = label["annotations"]["objects"]
            assert len(found) <= 3
            for value in found:
                location = value["location"]
                assert text[location["start"]:location["end"] + 1] == location["token"]
                objects.append(value)

    assert {o["name"] for o in objects} == set(ENTITY_CLASSES)
    assert any(" " in o["location"]["token"] for o in objects)
    examples = examples_from(sample, "text")
    assert 0 < sum(not e.labelled for e in examples) < len(examples) // 4
    assert [e.split for e in examples].count("training") == 160
