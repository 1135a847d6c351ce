"""From Labelbox export-v2 rows to examples: splits, labels, inline text and fetched URLs."""

from __future__ import annotations

import logging

import httpx
import pytest

from eventlog.contract import Answer, BoundingBox, Checklist, Radio, TextEntity
from fake_labelbox.samples import export_row as sample
from services.trainer.export_rows import ExportFormatError, read_rows
from services.trainer.fetch import FetchError, FetchProgress, load_examples
from services.trainer.pipelines.image_classification import ImageClassification
from services.trainer.pipelines.text_classification import TextClassification
from services.trainer.settings import FetchLimits
from tests.trainer.datasets import image_examples, label_of, text_examples
from tests.trainer.file_server import serving


def export_row(data_row_id: str, row_data: str, label: str | None, split: str | None,
               mime: str = "text/plain") -> dict[str, object]:
    run: dict[str, object] = {"name": "run", "labels": []}
    if split:
        run["split"] = split
    if label:
        run["labels"] = [{"id": "l1", "annotations": {"objects": [], "relationships": [],
                          "classifications": [{"name": "topic", "feature_id": "f1",
                                               "radio_answer": {"name": label}}]}}]
    return {"data_row": {"id": data_row_id, "global_key": None, "row_data": row_data},
            "media_attributes": {"mime_type": mime},
            "experiments": {"model-1": {"name": "m", "runs": {"run-1": run}}}}


def test_rows_become_refs_with_their_ground_truth_and_split() -> None:
    rows = [export_row("dr-1", "goal match", "sports", "training"),
            export_row("dr-2", "https://x/2.txt", None, None),
            export_row("dr-3", "bond yield", "finance", "bogus-split")]

    refs = read_rows(rows, "model-1", "run-1")

    assert [(r.data_row_id, r.annotations, r.labelled, r.split) for r in refs] == [
        ("dr-1", (Radio("topic", Answer("sports")),), True, "training"),
        ("dr-2", (), False, None),
        ("dr-3", (Radio("topic", Answer("finance")),), True, None)]
    assert (refs[0].is_url, refs[1].is_url) == (False, True)


def test_every_annotation_kind_is_read_with_its_feature_name() -> None:
    text = "Maria Lopez flew to Lisbon."
    row = sample.export_row(
        "model-1", "run-1", data_row_id="dr-1", global_key="k", row_data=text, split="test",
        objects=[sample.bounding_box("car", 48, 58, 65, 12),
                 sample.text_entity("person", text, 0, 10)],
        classifications=[sample.radio("sentiment", "positive"),
                         sample.checklist("tags", ["a", "b"]), sample.checklist("none", [])],
        media={"mime_type": "image/png", "width": 640, "height": 480})

    [ref] = read_rows([row], "model-1", "run-1")

    assert ref.annotations == (
        Radio("sentiment", Answer("positive")),
        Checklist("tags", (Answer("a"), Answer("b"))),
        Checklist("none", ()),
        BoundingBox("car", top=48, left=58, height=65, width=12),
        TextEntity("person", 0, 10),  # end inclusive: "Maria Lopez"
    )
    assert (ref.width, ref.height, ref.is_image, ref.labelled) == (640, 480, True, True)


def test_a_labelled_row_without_annotations_is_labelled_with_nothing() -> None:
    row = sample.export_row("model-1", "run-1", data_row_id="dr-1", global_key="k",
                            row_data="x", split=None)

    [ref] = read_rows([row], "model-1", "run-1")

    assert (ref.labelled, ref.annotations) == (True, ())


def test_a_box_whose_size_is_not_a_number_is_a_clear_error() -> None:
    box = sample.bounding_box("car", 1, 2, 3, 4)
    box["bounding_box"]["width"] = "wide"
    row = sample.export_row("model-1", "run-1", data_row_id="dr-4", global_key="k",
                            row_data="x", split=None, objects=[box])

    with pytest.raises(ExportFormatError, match="data row dr-4: box 'car' width: 'wide'"):
        read_rows([row], "model-1", "run-1")


def test_a_row_without_a_data_row_is_a_clear_error() -> None:
    with pytest.raises(ExportFormatError, match=r"export row 2: no data_row\.id"):
        read_rows([export_row("dr-1", "x", None, None), {"oops": 1}], "model-1", "run-1")


async def test_text_at_urls_is_fetched_and_a_model_trained_on_it_clears_the_bar() -> None:
    examples = text_examples(240)
    files = {f"/{e.data_row_id}.txt": str(e.content).encode() for e in examples}
    with serving(files) as base:
        rows = [export_row(e.data_row_id, f"{base}/{e.data_row_id}.txt", label_of(e), None)
                for e in examples]
        async with httpx.AsyncClient() as client:
            loaded = await load_examples(read_rows(rows, "model-1", "run-1"), "text", client,
                                         FetchLimits(concurrency=4))

    pipeline = TextClassification()
    dataset = pipeline.prepare(loaded)
    model = pipeline.train(dataset)
    assert pipeline.evaluate(model, dataset, pipeline.predict(model, dataset)
                             ).scores["accuracy"] >= 0.9


async def test_images_at_urls_are_fetched_as_bytes_and_learned_from() -> None:
    examples = image_examples(120)
    files = {f"/{e.data_row_id}.png": bytes(e.content) for e in examples}  # type: ignore[arg-type]
    with serving(files) as base:
        rows = [export_row(e.data_row_id, f"{base}/{e.data_row_id}.png", label_of(e), None,
                           "image/png") for e in examples]
        async with httpx.AsyncClient() as client:
            loaded = await load_examples(read_rows(rows, "model-1", "run-1"), "image", client,
                                         FetchLimits())

    pipeline = ImageClassification()
    dataset = pipeline.prepare(loaded)
    model = pipeline.train(dataset)
    assert pipeline.evaluate(model, dataset, pipeline.predict(model, dataset)
                             ).scores["accuracy"] >= 0.9


@pytest.mark.parametrize(
    ("path", "limits", "message"),
    [
        ("/missing", FetchLimits(), "HTTP 404"),
        ("/slow", FetchLimits(timeout=0.5), "no answer within 0.5s"),
        ("/huge", FetchLimits(max_bytes=100_000), "over the 100000 byte limit"),
        ("/declared", FetchLimits(max_bytes=10), "over the 10 limit"),
    ],
)
async def test_a_row_that_cannot_be_fetched_fails_with_its_id(
    path: str, limits: FetchLimits, message: str
) -> None:
    with serving({"/declared": b"x" * 100}, slow_seconds=2) as base:
        refs = read_rows([export_row("dr-9", base + path, "a", None)], "model-1", "run-1")
        async with httpx.AsyncClient() as client:
            with pytest.raises(FetchError, match=message) as raised:
                await load_examples(refs, "text", client, limits)
    assert "data row dr-9" in str(raised.value)


async def test_an_image_row_needs_a_url() -> None:
    refs = read_rows([export_row("dr-1", "inline text", "a", None)], "model-1", "run-1")
    async with httpx.AsyncClient() as client:
        with pytest.raises(FetchError, match="image row needs a URL"):
            await load_examples(refs, "image", client, FetchLimits())


@pytest.mark.parametrize(("change", "message"), [
    ({"experiments": []}, "data row dr-5: experiments is a list, not an object"),
    ({"media_attributes": ["image/png"]},
     "data row dr-5: media_attributes is a list, not an object"),
    ({"experiments": {"model-1": {"runs": {"run-1": {"labels": [{"annotations": ["x"]}]}}}}},
     "data row dr-5: annotations is a list, not an object"),
    ({"experiments": {"model-1": {"runs": {"run-1": {"labels": "all of them"}}}}},
     "data row dr-5: labels is a str, not a list"),
])
def test_a_row_of_another_shape_is_a_clear_error_naming_the_row(
    change: dict[str, object], message: str,
) -> None:
    row = {**export_row("dr-5", "text", "a", None), **change}

    with pytest.raises(ExportFormatError, match=message):
        read_rows([row], "model-1", "run-1")


def test_an_infinite_coordinate_is_not_a_number() -> None:
    box = sample.bounding_box("car", 1, 2, 3, 4)
    box["bounding_box"]["top"] = float("inf")
    row = sample.export_row("model-1", "run-1", data_row_id="dr-6", global_key="k",
                            row_data="x", split=None, objects=[box])

    with pytest.raises(ExportFormatError, match="data row dr-6: box 'car' top: inf"):
        read_rows([row], "model-1", "run-1")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fetch_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "services.trainer.fetch"]


def test_a_fast_fetch_is_logged_every_10_percent_and_once_done(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="services.trainer.fetch")
    clock = Clock()
    progress = FetchProgress(50, clock=clock)
    for _ in range(50):
        clock.now += 0.1
        progress.fetched()

    assert fetch_lines(caplog) == [
        "fetching 50 rows",
        *(f"rows fetched {n}/50 ({n / 10:.1f}s)" for n in range(5, 50, 5)),
        "rows fetched 50/50 in 5.0s"]


def test_a_slow_fetch_is_logged_every_few_seconds(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="services.trainer.fetch")
    clock = Clock()
    progress = FetchProgress(1000, every=5.0, clock=clock)
    for _ in range(12):
        clock.now += 2.0
        progress.fetched()

    assert fetch_lines(caplog) == ["fetching 1000 rows", "rows fetched 3/1000 (6.0s)",
                                   "rows fetched 6/1000 (12.0s)", "rows fetched 9/1000 (18.0s)",
                                   "rows fetched 12/1000 (24.0s)"]


async def test_fetching_urls_logs_how_many_rows_arrived_and_how_long_it_took(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="services.trainer.fetch")
    examples = text_examples(30)
    files = {f"/{e.data_row_id}.txt": str(e.content).encode() for e in examples}
    with serving(files) as base:
        rows = [export_row(e.data_row_id, f"{base}/{e.data_row_id}.txt", label_of(e), None)
                for e in examples] + [export_row("dr-inline", "inline text", "sports", None)]
        async with httpx.AsyncClient() as client:
            await load_examples(read_rows(rows, "model-1", "run-1"), "text", client,
                                FetchLimits(concurrency=4))

    lines = fetch_lines(caplog)
    assert lines[0] == "fetching 30 rows"  # the inline row is not fetched
    assert [line.split()[2] for line in lines[1:]] == [f"{n}/30" for n in range(3, 31, 3)]
    assert lines[-1].startswith("rows fetched 30/30 in ")
