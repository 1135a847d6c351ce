"""A run's first request costs one statement: its attempt is appended on the condition that
the stream does not exist, with no read before it. Later requests read the stream and decide
as before (tests/ingest/test_webhook.py holds those answers)."""

from __future__ import annotations

from eventlog import NewEvent, RecordedEvent
from eventlog.memory import InMemoryEventStore
from tests.ingest.conftest import body_of, make_client, post_signed

RUN = "run-first"
STREAM = f"model_run-{RUN}"
REQUEST = body_of(modelType="bounding_box", modelRunId=RUN)


class ReadCountingStore(InMemoryEventStore):
    """The in-memory store, counting the stream reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def read_stream(self, stream_id: str, *, from_version: int = 1
                          ) -> list[RecordedEvent]:
        self.reads += 1
        return await super().read_stream(stream_id, from_version=from_version)


async def test_a_runs_first_request_appends_without_reading_the_stream() -> None:
    store = ReadCountingStore()
    http, _ = make_client(store)
    async with http:
        response = await post_signed(http, REQUEST)

    assert (response.status_code, response.json()["attempt"]) == (202, 1)
    assert store.reads == 0
    assert [e.data["attempt"] for e in await store.read_stream(STREAM)] == [1]


async def test_a_repeat_is_decided_by_reading_the_stream() -> None:
    store = ReadCountingStore()
    http, _ = make_client(store)
    async with http:
        await post_signed(http, REQUEST)
        repeat = await post_signed(http, REQUEST)
        await store.append(STREAM, [NewEvent("TrainingFailed", {"attempt": 1})])
        retry = await post_signed(http, REQUEST)

    assert (repeat.status_code, repeat.json()["status"]) == (200, "in_progress")
    assert (retry.status_code, retry.json()["attempt"]) == (202, 2)
    assert store.reads == 2


async def test_a_stream_that_holds_other_events_first_gets_attempt_one_after_them() -> None:
    store = ReadCountingStore()
    await store.append(STREAM, [NewEvent("SomethingNoted", {})])
    http, _ = make_client(store)
    async with http:
        response = await post_signed(http, REQUEST)

    assert (response.status_code, response.json()["attempt"]) == (202, 1)
    events = await store.read_stream(STREAM)
    assert [(e.event_type, e.stream_version) for e in events] == [
        ("SomethingNoted", 1), ("TrainingRequested", 2)]
