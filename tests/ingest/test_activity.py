"""What ``POST /model_run`` did is logged at INFO once a minute, not in a line per request."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from eventlog.memory import InMemoryEventStore
from eventlog.model_types import InMemoryModelTypeCatalog
from services.ingest.activity import RunActivity, log_activity
from services.ingest.bootstrap import IngestAdapters, wire_ingest
from services.ingest.settings import IngestSettings
from tests.ingest.conftest import MODEL_TYPES, SECRET, body_of, post_signed


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_summary_counts_what_happened_since_the_last_one() -> None:
    clock = Clock()
    activity = RunActivity(clock)
    activity.accepted += 5812
    activity.repeats += 3
    clock.now = 60.0

    assert activity.summary() == ("accepted 5,812 model run(s) in the last 60 s; 3 repeat(s) "
                                  "for runs in progress or complete appended nothing")
    clock.now = 120.0
    assert activity.summary() is None  # nothing happened since
    activity.accepted += 1
    clock.now = 150.0
    assert activity.summary() == "accepted 1 model run(s) in the last 30 s"


async def test_the_summary_is_logged_every_interval_and_once_more_at_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="services.ingest.activity")
    activity, stop = RunActivity(), asyncio.Event()
    activity.accepted += 2
    logging_task = asyncio.create_task(log_activity(activity, stop, interval=0.01))
    while not caplog.records:  # noqa: ASYNC110 - waiting for the first summary
        await asyncio.sleep(0.005)
    activity.accepted += 1
    stop.set()
    await logging_task

    assert [r.getMessage().split(" in the last")[0] for r in caplog.records] == [
        "accepted 2 model run(s)", "accepted 1 model run(s)"]


async def test_each_request_is_logged_at_debug_only_and_counted_for_the_summary(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="services.ingest")
    ingest = wire_ingest(IngestSettings(secrets=(SECRET,)),
                         IngestAdapters(InMemoryEventStore(),
                                        InMemoryModelTypeCatalog(MODEL_TYPES)))
    body = body_of(modelType="bounding_box", modelRunId="run-logged")
    transport = httpx.ASGITransport(app=ingest.app())  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
        assert (await post_signed(client, body)).status_code == 202
        assert (await post_signed(client, body)).status_code == 200

    lines = [(r.levelname, r.getMessage()) for r in caplog.records
             if r.name.startswith("services.ingest")]
    assert lines == [("DEBUG", "accepted attempt 1 of run-logged (bounding_box)"),
                     ("DEBUG", "model run run-logged already in_progress; nothing appended")]
    summary = ingest.deps.activity.summary()
    assert summary is not None and summary.startswith("accepted 1 model run(s) in the last")
    assert summary.endswith("; 1 repeat(s) for runs in progress or complete appended nothing")
