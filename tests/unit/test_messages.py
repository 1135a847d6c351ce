"""An event crosses RabbitMQ intact, with what routing and deduplication need outside its body."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from aio_pika import DeliveryMode, Message

from eventlog import LogPosition, RecordedEvent
from eventlog.messages import MalformedMessageError, from_message, to_message


def recorded() -> RecordedEvent:
    return RecordedEvent(
        stream_id="model_run-7",
        stream_version=3,
        event_id=uuid4(),
        event_type="StageStarted",
        data={"stage": "TRAINING_MODEL", "params": {"C": 1.0}},
        metadata={"correlation_id": "c-9", "causation_id": "e-2", "traceparent": "00-ab-cd-01"},
        recorded_at=datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
        position=LogPosition(812, 40),
    )


def test_an_event_survives_the_round_trip() -> None:
    event = recorded()
    assert from_message(to_message(event)) == event


def test_the_message_carries_identity_routing_and_trace_context() -> None:
    event = recorded()
    message = to_message(event)

    assert message.message_id == str(event.event_id)
    assert message.type == "StageStarted"
    assert message.correlation_id == "c-9"
    assert message.delivery_mode == DeliveryMode.PERSISTENT
    assert message.headers == {
        "stream_id": "model_run-7", "stream_version": 3, "position": "812:40",
        "causation_id": "e-2", "traceparent": "00-ab-cd-01",
    }


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'{"event_id": "not-a-uuid"}'])
def test_a_body_that_is_not_an_event_is_rejected_clearly(body: bytes) -> None:
    with pytest.raises(MalformedMessageError, match="not a trainbridge event"):
        from_message(Message(body))
