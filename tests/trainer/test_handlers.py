"""The trainer's handler on the in-memory trainer store (no PostgreSQL): what each consumed
event appends, and which job a ``DataExported`` queues in the same unit of work."""

from __future__ import annotations

import pytest

from eventlog import NewEvent, RecordedEvent, event_metadata
from services.trainer.handlers import make_handler
from services.trainer.jobs import TrainingJob
from services.trainer.jobs_memory import InMemoryTrainingJobs
from services.trainer.unit_of_work import InMemoryTrainerStore

STREAM = "model_run-run-1"
handle = make_handler({"ner", "bounding_box"})


@pytest.fixture
def store() -> InMemoryTrainerStore:
    return InMemoryTrainerStore()


async def recorded(store: InMemoryTrainerStore, event_type: str, **data: object
                   ) -> RecordedEvent:
    await store.append(STREAM, [NewEvent(
        event_type, {"attempt": 1, **data}, event_metadata(producer="test", correlation_id="c"))])
    return (await store.read_stream(STREAM))[-1]


async def consume(store: InMemoryTrainerStore, event: RecordedEvent) -> None:
    async with store.unit_of_work() as uow:
        await handle(uow, event)


async def requested(store: InMemoryTrainerStore, model_type: str = "ner") -> RecordedEvent:
    return await recorded(store, "TrainingRequested", modelType=model_type,
                          modelRunId="run-1", modelId="model-1")


async def test_a_request_for_a_trainable_type_asks_for_the_data(
    store: InMemoryTrainerStore,
) -> None:
    request = await requested(store)

    await consume(store, request)

    last = (await store.read_stream(STREAM))[-1]
    assert (last.event_type, last.data) == ("DataExportRequested", {
        "attempt": 1, "modelRunId": "run-1", "modelId": "model-1", "modelType": "ner"})
    assert last.metadata["causation_id"] == str(request.event_id)


async def test_a_request_no_pipeline_here_trains_fails_the_run_for_good(
    store: InMemoryTrainerStore,
) -> None:
    await consume(store, await requested(store, "image_single_classification"))

    last = (await store.read_stream(STREAM))[-1]
    assert last.event_type == "TrainingFailed"
    assert last.data["retryable"] is False and last.data["stage"] == "EXPORTING_DATA"
    assert "image_single_classification" in last.data["message"]


async def test_exported_data_queues_a_training_job_for_the_requested_model(
    store: InMemoryTrainerStore,
) -> None:
    await requested(store, "bounding_box")
    exported = await recorded(store, "DataExported", uri="file:///e.ndjson", sha256="abc")

    await consume(store, exported)

    job = await InMemoryTrainingJobs(store.job_table, "trainer-a", 30).claim()
    assert job == TrainingJob(STREAM, 1, "bounding_box", "run-1", "model-1",
                              "file:///e.ndjson", "abc", claims=1)


async def test_exported_data_for_an_attempt_never_requested_queues_nothing(
    store: InMemoryTrainerStore,
) -> None:
    exported = await recorded(store, "DataExported", uri="file:///e.ndjson", sha256="abc")

    with pytest.raises(ValueError, match="unknown attempt 1"):
        await consume(store, exported)

    assert await InMemoryTrainingJobs(store.job_table, "trainer-a", 30).claim() is None
