"""The sample export of every built-in model type, by model type key: what the fake serves
for ``POST /_fake/model-runs {"sample": "<model type>"}``, what the end-to-end tests train
and what ``bench/model_types.py`` measures."""

from __future__ import annotations

import importlib
from typing import Protocol

from fake_labelbox.samples.export_row import SampleExport


class SampleGenerator(Protocol):
    def __call__(self, model_id: str, model_run_id: str, *, base_url: str = "",
                 count: int = ..., seed: int = 0) -> SampleExport: ...


GENERATORS = {
    "text_single_classification": "fake_labelbox.samples.radio:text_radio_export",
    "image_single_classification": "fake_labelbox.samples.radio:image_radio_export",
    "text_multi_classification":
        "fake_labelbox.samples.checklists:text_checklist_export",
    "image_multi_classification":
        "fake_labelbox.samples.checklists:image_checklist_export",
    "bounding_box": "fake_labelbox.samples.detection:detection_export",
    "ner": "fake_labelbox.samples.entities:entities_export",
}
MODEL_TYPES = tuple(GENERATORS)


class UnknownSampleError(LookupError):
    pass


def generator(model_type: str) -> SampleGenerator:
    """The sample generator of ``model_type`` (imported on first use: images need PIL)."""
    try:
        module, name = GENERATORS[model_type].split(":")
    except KeyError:
        raise UnknownSampleError(
            f"no sample for model type {model_type!r}; samples: {', '.join(MODEL_TYPES)}"
        ) from None
    found: SampleGenerator = getattr(importlib.import_module(module), name)
    return found


def sample_export(model_type: str, model_id: str, model_run_id: str, *, base_url: str = "",
                  count: int | None = None, seed: int = 0) -> SampleExport:
    make = generator(model_type)
    if count is None:
        return make(model_id, model_run_id, base_url=base_url, seed=seed)
    return make(model_id, model_run_id, base_url=base_url, count=count, seed=seed)
