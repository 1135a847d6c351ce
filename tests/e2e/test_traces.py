"""Traces (the ``otel`` extra, OTEL_EXPORTER_OTLP_ENDPOINT set): one signed webhook through
the real ingest, trainer and reporter processes, against the fake Labelbox, is one trace
whose spans come from the three services and link the webhook to each Labelbox call
through the relay's publish and the consumers. The services export over OTLP/HTTP to a
receiver in this test (tests/otlp_receiver.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import asyncpg
import pytest

from fake_labelbox.sample_rows import text_classification_rows
from tests.e2e.conftest import System
from tests.integration.helpers import eventually
from tests.otlp_receiver import OtlpReceiver, ReceivedSpan, otlp_receiver

CALLER_TRACE, CALLER_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
"""The trace context of whoever sent the webhook (a proxy, Labelbox): the trace continues it."""


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    with otlp_receiver() as receiver:
        yield receiver


@pytest.fixture
def extra_environment(otlp: OtlpReceiver) -> dict[str, str]:
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200"}  # export every 0.2 s, not every 5 s


def ancestry(span: ReceivedSpan, spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    """``span``, its parent, its parent's parent, … as far as they were exported."""
    by_id = {s.span_id: s for s in spans}
    chain = [span]
    while chain[-1].parent_span_id in by_id:
        chain.append(by_id[chain[-1].parent_span_id])
    return chain


async def stored_traceparent(database_url: str, run: str) -> str:
    connection = await asyncpg.connect(database_url)
    try:
        metadata = await connection.fetchval(
            "SELECT metadata FROM events WHERE stream_id = $1 AND event_type = "
            "'TrainingRequested'", f"model_run-{run}")
    finally:
        await connection.close()
    return str(json.loads(metadata)["traceparent"])


async def test_one_webhook_is_one_trace_from_ingest_through_the_trainer_to_labelbox(
        system: System, otlp: OtlpReceiver, database_url: str) -> None:
    run = "run-traced"
    system.fake.control.add_model_run(run, data_rows=text_classification_rows("model-1", run))
    answer = await system.request(
        run, headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"})
    assert answer.status_code == 202
    await system.wait_terminal([run])

    def ours() -> list[ReceivedSpan]:
        return [s for s in otlp.spans if s.trace_id == CALLER_TRACE]

    async def completion_exported() -> bool:
        return any(s.name == "deliver complete" for s in ours())

    await eventually(completion_exported, 20, interval=0.2)
    spans = ours()
    assert {"trainbridge-ingest", "trainbridge-trainer", "trainbridge-reporter"} <= {
        s.service for s in spans}

    (webhook,) = [s for s in spans if s.kind == "server"]
    assert (webhook.service, webhook.parent_span_id) == ("trainbridge-ingest", CALLER_SPAN)
    assert "/model_run" in webhook.name
    # The event ingest appended carries the webhook's span: the trace is one tree.
    assert await stored_traceparent(database_url, run) == (
        f"00-{CALLER_TRACE}-{webhook.span_id}-01")

    # The data export: requested by the trainer as it consumed TrainingRequested, made by the
    # reporter; each step a span whose parent is the one before.
    export_calls = [s for s in spans if s.kind == "client" and s.service ==
                    "trainbridge-reporter" and s.name.startswith("labelbox ")
                    and ancestry(s, spans)[1].name == "deliver export"]
    assert export_calls, sorted({s.name for s in spans})
    chain = ancestry(export_calls[0], spans)
    assert [(s.service, s.kind) for s in chain[1:]][:1] == [("trainbridge-reporter", "internal")]
    consume = next(s for s in chain if s.kind == "consumer")
    publish = next(s for s in chain if s.kind == "producer")
    assert consume.service == "trainbridge-trainer"
    assert "TrainingRequested" in consume.name
    # Every service runs an outbox relay and any of them may publish the event ingest
    # appended: the publish span is whichever relay's, the webhook its ancestor.
    assert publish.service in {"trainbridge-ingest", "trainbridge-trainer",
                               "trainbridge-reporter"}
    assert chain[-1] == webhook
    assert chain.index(consume) < chain.index(publish) < chain.index(webhook)

    # The reporter's own deliveries hang off the same trace: every Labelbox call it made for
    # this run, the acknowledgement first among them, is in it.
    calls = [s for s in spans if s.kind == "client" and s.name.startswith("labelbox ")]
    assert any("update_status" in s.name for s in calls)
    assert any(s.kind == "consumer" and s.service == "trainbridge-reporter" for s in spans)
    assert any(s.service == "trainbridge-trainer" and s.name.startswith("stage ")
               for s in spans)
