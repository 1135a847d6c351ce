"""An export that cannot train its model type ends the run FAILED with one line naming the
problem and the data row — the message the Labelbox UI shows — never a crash loop or a
stuck run: the ontology does not fit the model type, boxes of negative size or outside the
image, entity offsets outside the text, no labelled rows."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from eventlog.postgres import Database, PostgresEventStore
from fake_labelbox.samples import export_row as lb
from services.trainer.jobs import PostgresTrainingJobs
from services.trainer.settings import TrainerSettings
from tests.trainer.datasets import plain_png
from tests.trainer.file_server import serving
from tests.trainer.test_training_flow import (
    STREAM,
    export_data,
    handle,
    request_training,
    worker,
)


def rows(count: int, **fields: Any) -> list[dict[str, Any]]:
    """``count`` rows; ``fields`` maps a row number to its objects/classifications/...,
    or ``"all"`` to every row's."""
    built = []
    for index in range(count):
        own = fields.get(str(index), fields.get("all", {}))
        built.append(lb.export_row(
            "model-1", "run-1", data_row_id=f"dr-{index}", global_key=f"k-{index}",
            split="training" if index % 5 else "test", **{"row_data": f"row {index}", **own}))
    return built


def ndjson(export: Sequence[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in export)


async def failure_of(store: PostgresEventStore, database: Database, settings: TrainerSettings,
                     http: httpx.AsyncClient, tmp_path: Path, model_type: str,
                     export: Sequence[dict[str, Any]]) -> dict[str, Any]:
    await handle(store, await request_training(store, model_type))
    await handle(store, await export_data(store, tmp_path, ndjson(export)))
    job = await PostgresTrainingJobs(database, "trainer-a", 30).claim()
    assert job is not None
    await worker(database, settings, http).process(job)
    [last] = (await store.read_stream(STREAM))[-1:]
    assert last.event_type == "TrainingFailed", last.data
    assert await PostgresTrainingJobs(database, "trainer-b", 30).claim() is None  # not left to loop
    message: str = last.data["message"]
    assert "\n" not in message and len(message) <= 255
    return dict(last.data)


@pytest.fixture
def images() -> Iterator[str]:
    with serving({"/wide.png": plain_png(100, 80)}) as base:
        yield base


def image_row(base: str, *boxes: dict[str, Any]) -> dict[str, Any]:
    return {"row_data": f"{base}/wide.png", "objects": list(boxes),
            "media": {"mime_type": "image/png", "width": 100, "height": 80}}


async def test_ner_on_images_names_the_image_row(
    store: PostgresEventStore, database: Database, settings: TrainerSettings,
    http: httpx.AsyncClient, tmp_path: Path, images: str,
) -> None:
    export = rows(10, all=image_row(images, lb.bounding_box("car", 1, 1, 10, 10)))

    failed = await failure_of(store, database, settings, http, tmp_path, "ner", export)

    assert (failed["stage"], failed["message"]) == (
        "PREPARING_DATA", "ner learns from text, but data row dr-0 is an image (image/png)")


async def test_a_checklist_run_with_only_radio_answers_names_what_it_found(
    store: PostgresEventStore, database: Database, settings: TrainerSettings,
    http: httpx.AsyncClient, tmp_path: Path,
) -> None:
    export = rows(10, all={"classifications": [lb.radio("sentiment", "positive")]})

    failed = await failure_of(store, database, settings, http, tmp_path,
                              "text_multi_classification", export)

    assert failed["message"] == (
        "text_multi_classification learns checklist answers, but the model run's labels have "
        "radio answers ('sentiment') (e.g. data row dr-0)")


async def test_zero_labelled_rows_fail_the_run_at_once(
    store: PostgresEventStore, database: Database, settings: TrainerSettings,
    http: httpx.AsyncClient, tmp_path: Path,
) -> None:
    export = rows(10, all={"labelled": False})

    failed = await failure_of(store, database, settings, http, tmp_path,
                              "text_single_classification", export)

    assert failed["message"] == (
        "none of the 10 data rows (e.g. dr-0) has a label in this model run: "
        "text_single_classification has nothing to learn from")


async def test_an_entity_outside_its_text_names_the_row_and_the_entity(
    store: PostgresEventStore, database: Database, settings: TrainerSettings,
    http: httpx.AsyncClient, tmp_path: Path,
) -> None:
    text = "Maria Lopez moved to Lisbon."
    good = {"row_data": text, "objects": [lb.text_entity("person", text, 0, 10),
                                          lb.text_entity("city", text, 21, 26)]}
    outside = {**good, "objects": [{**lb.text_entity("city", text, 21, 26),
                                    "location": {"start": 21, "end": 40}}]}
    export = rows(10, all=good, **{"3": outside})

    failed = await failure_of(store, database, settings, http, tmp_path, "ner", export)

    assert failed["stage"] == "PREPARING_DATA"
    assert "data row dr-3" in failed["message"] and "'city'" in failed["message"]
    assert "outside" in failed["message"] or "past" in failed["message"]


@pytest.mark.parametrize(("box", "problem"), [
    (lb.bounding_box("car", 10, 10, 20, -5), "negative"),
    (lb.bounding_box("car", 10, 90, 20, 30), "outside"),
])
async def test_a_bad_box_names_the_row_and_the_box(
    store: PostgresEventStore, database: Database, settings: TrainerSettings,
    http: httpx.AsyncClient, tmp_path: Path, images: str, box: dict[str, Any], problem: str,
) -> None:
    fine = lb.bounding_box("car", 10, 10, 20, 20)
    export = rows(10, all=image_row(images, fine), **{"4": image_row(images, fine, box)})

    failed = await failure_of(store, database, settings, http, tmp_path, "bounding_box", export)

    assert failed["stage"] == "PREPARING_DATA"
    assert "data row dr-4" in failed["message"] and "'car'" in failed["message"]
    assert problem in failed["message"]


async def test_a_failure_quoting_text_postgresql_refuses_is_recorded_with_a_marker(
    store: PostgresEventStore, database: Database, settings: TrainerSettings,
    http: httpx.AsyncClient, tmp_path: Path,
) -> None:
    text = "Maria Lopez moved to Lisbon."
    good = {"row_data": text, "objects": [lb.text_entity("person", text, 0, 10),
                                          lb.text_entity("city", text, 21, 26)]}
    export = rows(10, all=good)
    export[3] = lb.export_row(  # an artifact written before exports were made storable
        "model-1", "run-1", data_row_id="dr-\x00\ud8003", global_key="k-3", split="training",
        **{**good, "objects": [{**lb.text_entity("city", text, 21, 26),
                                "location": {"start": 21, "end": 40}}]})

    failed = await failure_of(store, database, settings, http, tmp_path, "ner", export)

    assert "data row dr-\ufffd\ufffd3" in failed["message"]
