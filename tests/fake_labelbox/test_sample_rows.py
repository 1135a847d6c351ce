"""The sample rows are what the trainer reads, and its text pipeline learns them."""

from __future__ import annotations

from collections import Counter

from eventlog.contract import Answer, Radio
from fake_labelbox.sample_rows import text_classification_rows
from services.trainer.export_rows import read_rows
from services.trainer.pipeline import Example
from services.trainer.pipelines.text_classification import TextClassification


def test_the_trainer_reads_labels_and_80_10_10_splits_from_the_sample_rows() -> None:
    refs = read_rows(text_classification_rows("model-1", "mr-1"), "model-1", "mr-1")

    assert len(refs) == 60
    assert Counter(r.split for r in refs) == {"training": 48, "validation": 6, "test": 6}
    assert Counter(r.annotations for r in refs) == {
        (Radio("sentiment", Answer("positive")),): 30,
        (Radio("sentiment", Answer("negative")),): 30}
    for split in ("validation", "test"):
        assert len({r.annotations for r in refs if r.split == split}) == 2
    assert {(r.mime_type, r.is_url, r.labelled) for r in refs} == {("text/plain", False, True)}


def test_the_text_pipeline_learns_the_sample_rows() -> None:
    refs = read_rows(text_classification_rows("model-1", "mr-1"), "model-1", "mr-1")
    examples = [Example(r.data_row_id, r.row_data, r.annotations, r.labelled, r.split)
                for r in refs]
    pipeline = TextClassification()
    dataset = pipeline.prepare(examples)

    predictions = pipeline.predict(pipeline.train(dataset), dataset)

    truth = {e.data_row_id: e.annotations for e in examples if e.split == "test"}
    assert truth
    assert all(tuple(Radio(a.feature, Answer(a.answer.name)) for a in p.annotations
                     if isinstance(a, Radio)) == truth[p.data_row_id]
               for p in predictions if p.data_row_id in truth)
