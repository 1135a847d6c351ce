"""The sample rows are what the trainer reads, and its text pipeline learns them."""

from __future__ import annotations

from collections import Counter

from services.fake_labelbox.sample_rows import text_classification_rows
from services.trainer.export_rows import read_rows
from services.trainer.pipeline import Example
from services.trainer.pipelines.text_classification import TextClassification


def test_the_trainer_reads_labels_and_80_10_10_splits_from_the_sample_rows() -> None:
    refs = read_rows(text_classification_rows("model-1", "mr-1"), "model-1", "mr-1")

    assert len(refs) == 60
    assert Counter(r.split for r in refs) == {"training": 48, "validation": 6, "test": 6}
    assert Counter(r.label for r in refs) == {"positive": 30, "negative": 30}
    for split in ("validation", "test"):
        assert {r.label for r in refs if r.split == split} == {"positive", "negative"}
    assert {(r.classification, r.mime_type, r.is_url) for r in refs} == {
        ("sentiment", "text/plain", False)}


def test_the_text_pipeline_learns_the_sample_rows() -> None:
    refs = read_rows(text_classification_rows("model-1", "mr-1"), "model-1", "mr-1")
    examples = [Example(r.data_row_id, r.row_data, r.label, r.split) for r in refs]
    pipeline = TextClassification()
    dataset = pipeline.prepare(examples)

    predictions = pipeline.predict(pipeline.train(dataset), dataset)

    truth = {e.data_row_id: e.label for e in examples if e.split == "test"}
    assert all(p.label == truth[p.data_row_id] for p in predictions if p.data_row_id in truth)
