"""From a sample export to a pipeline's examples without HTTP: the rows are read by the
trainer's own export reader, and URLs are answered from the sample's files."""

from __future__ import annotations

from urllib.parse import urlsplit

from fake_labelbox.samples.export_row import SampleExport
from services.trainer.export_rows import read_rows
from services.trainer.pipeline import Example, Media

MODEL_ID = "model-1"
MODEL_RUN_ID = "run-1"
BASE_URL = "http://files.test"


def examples_from(sample: SampleExport, media: Media, *, model_id: str = MODEL_ID,
                  model_run_id: str = MODEL_RUN_ID) -> list[Example]:
    examples = []
    for ref in read_rows(sample.rows, model_id, model_run_id):
        content: str | bytes = ref.row_data
        if ref.is_url:
            body = sample.files[urlsplit(ref.row_data).path]
            content = body.decode() if media == "text" else body
        examples.append(Example(ref.data_row_id, content, ref.annotations, ref.labelled,
                                ref.split))
    return examples
