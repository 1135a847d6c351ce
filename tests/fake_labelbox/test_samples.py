"""The fake serves a realistic export for every model type: several features of the
type's annotation kind, labelled and unlabelled rows in three splits, and images it serves
itself over HTTP."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from fake_labelbox.samples.catalog import MODEL_TYPES
from services.trainer.export_rows import read_rows
from services.trainer.registry import load_pipelines
from tests.fake_labelbox import FakeLabelbox


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_a_sample_export_has_several_features_of_its_kind_in_every_split(
    fake_labelbox: FakeLabelbox, model_type: str,
) -> None:
    control = fake_labelbox.control
    registered = control.add_model_run("mr-1", sample=model_type, count=60, seed=3)
    rows = fake_labelbox.state.model_run("mr-1").rows

    refs = read_rows(rows, "model-1", "mr-1")
    pipeline = load_pipelines()[model_type]
    features = {a.feature for r in refs for a in r.annotations if a.kind == pipeline.learns}
    assert registered["rows_count"] == len(refs) == 60
    assert len(features) >= 2, features
    assert Counter(r.split for r in refs).keys() == {"training", "validation", "test"}
    assert 0 < sum(not r.labelled for r in refs) < 15
    assert all(r.is_image == (pipeline.media == "image") for r in refs)


@pytest.mark.parametrize("model_type", ["bounding_box", "image_multi_classification",
                                        "image_single_classification"])
def test_a_sample_images_are_served_by_the_fake_as_png(
    fake_labelbox: FakeLabelbox, model_type: str,
) -> None:
    fake_labelbox.control.add_model_run("mr-1", sample=model_type, count=12)
    refs = read_rows(fake_labelbox.state.model_run("mr-1").rows, "model-1", "mr-1")

    for ref in refs:
        assert ref.row_data.startswith(f"{fake_labelbox.base_url}/_fake/media/")
        response = httpx.get(ref.row_data)
        assert response.status_code == 200
        assert response.content.startswith(b"\x89PNG")
        assert response.headers["content-type"] == "image/png"


def test_an_unknown_sample_is_a_clear_400(fake_labelbox: FakeLabelbox) -> None:
    response = httpx.post(f"{fake_labelbox.base_url}/_fake/model-runs",
                          json={"id": "mr-1", "sample": "keypoints"})

    assert response.status_code == 400
    assert "no sample for model type 'keypoints'" in response.text
