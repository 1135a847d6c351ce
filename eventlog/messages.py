"""How an event travels over AMQP: the body is the whole recorded event as JSON; the
properties carry what routing, deduplication and tracing need without parsing it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from aio_pika import DeliveryMode, Message
from aio_pika.abc import AbstractMessage

from eventlog.events import LogPosition, RecordedEvent

CONTENT_TYPE = "application/json"
_TRACE_HEADERS = ("traceparent", "tracestate")


class MalformedMessageError(ValueError):
    """A message body that is not an event this project published."""


def to_message(event: RecordedEvent) -> Message:
    headers: dict[str, Any] = {
        "stream_id": event.stream_id,
        "stream_version": event.stream_version,
        "position": str(event.position),
    }
    causation_id = event.metadata.get("causation_id")
    if causation_id is not None:
        headers["causation_id"] = str(causation_id)
    for name in _TRACE_HEADERS:
        if name in event.metadata:
            headers[name] = str(event.metadata[name])
    body = {
        "event_id": str(event.event_id),
        "event_type": event.event_type,
        "stream_id": event.stream_id,
        "stream_version": event.stream_version,
        "position": str(event.position),
        "recorded_at": event.recorded_at.isoformat(),
        "data": event.data,
        "metadata": event.metadata,
    }
    return Message(
        json.dumps(body, separators=(",", ":")).encode(),
        content_type=CONTENT_TYPE,
        delivery_mode=DeliveryMode.PERSISTENT,
        message_id=str(event.event_id),
        correlation_id=event.correlation_id,
        type=event.event_type,
        timestamp=event.recorded_at,
        app_id="trainbridge",
        headers=headers,
    )


def from_message(message: AbstractMessage) -> RecordedEvent:
    try:
        body = json.loads(message.body)
        return RecordedEvent(
            stream_id=str(body["stream_id"]),
            stream_version=int(body["stream_version"]),
            event_id=UUID(body["event_id"]),
            event_type=str(body["event_type"]),
            data=dict(body["data"]),
            metadata=dict(body["metadata"]),
            recorded_at=datetime.fromisoformat(body["recorded_at"]),
            position=LogPosition.parse(body["position"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedMessageError(f"not a trainbridge event: {exc!r}") from exc
