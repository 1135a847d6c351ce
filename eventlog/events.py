"""The event log's vocabulary: what is appended, what is read back, and where it sits."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from eventlog import telemetry
from eventlog.tracing import child_traceparent

JsonObject = Mapping[str, Any]


class StreamState(enum.Enum):
    """Expected-version sentinels for :meth:`EventStore.append`."""

    ANY = "any"
    """Append after whatever the stream holds (no concurrency check)."""
    NO_STREAM = "no_stream"
    """The stream must not exist yet."""


ExpectedVersion = int | StreamState
"""An exact stream version (``0`` means an empty stream) or a :class:`StreamState`."""


def validate_append(events: object, expected: ExpectedVersion) -> None:
    """The checks every store makes before an append."""
    if not events:
        raise ValueError("append needs at least one event")
    if isinstance(expected, int) and expected < 0:
        raise ValueError(f"expected version must be >= 0, got {expected}")


@dataclass(frozen=True)
class NewEvent:
    """An event to append. ``event_id`` makes the append idempotent: choose it
    deterministically (e.g. ``uuid5`` of the cause) wherever a retry may repeat the append."""

    event_type: str
    data: JsonObject
    metadata: JsonObject = field(default_factory=dict)
    event_id: UUID = field(default_factory=uuid4)


@dataclass(frozen=True, order=True)
class LogPosition:
    """A place in the global log. The log is ordered by committing transaction, then by
    insert order, so a reader that resumes after a position never passes over an event
    whose transaction committed late."""

    transaction_id: int
    global_position: int

    def __str__(self) -> str:
        return f"{self.transaction_id}:{self.global_position}"

    @classmethod
    def parse(cls, text: str) -> LogPosition:
        transaction_id, _, global_position = text.partition(":")
        return cls(int(transaction_id), int(global_position))


LOG_START = LogPosition(0, 0)


@dataclass(frozen=True)
class RecordedEvent:
    """An event as the log stored it."""

    stream_id: str
    stream_version: int
    event_id: UUID
    event_type: str
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime
    position: LogPosition

    @property
    def correlation_id(self) -> str | None:
        value = self.metadata.get("correlation_id")
        return str(value) if value is not None else None


@dataclass(frozen=True)
class AppendResult:
    """Where an append put its events. ``already_stored`` is true when every event id was
    stored before (an idempotent repeat): nothing new was written."""

    stream_id: str
    stream_version: int
    positions: tuple[LogPosition, ...]
    already_stored: bool = False


def event_metadata(
    *,
    producer: str,
    correlation_id: str | None = None,
    causation_id: str | UUID | None = None,
    schema_version: int = 1,
    **extra: Any,
) -> dict[str, Any]:
    """The metadata every event carries (see docs/architecture.md, the event log)."""
    metadata: dict[str, Any] = {"producer": producer, "schema_version": schema_version}
    if correlation_id is not None:
        metadata["correlation_id"] = correlation_id
    if causation_id is not None:
        metadata["causation_id"] = str(causation_id)
    metadata.update(extra)
    return metadata


def caused_event(
    event_type: str,
    data: Mapping[str, Any],
    *,
    producer: str,
    event_id: UUID,
    correlation_id: str | None,
    causation_id: str | UUID | None = None,
    traceparent: str | None = None,
) -> NewEvent:
    """An event a service appends because of another: it keeps the cause's correlation id,
    names the cause, and continues its trace (``traceparent``: the cause's) with a span of
    its own: with tracing on, the span it is appended in (eventlog.telemetry). Pass an
    ``event_id`` derived from the cause, so a repeat is an idempotent append."""
    return NewEvent(
        event_type,
        data,
        event_metadata(producer=producer, correlation_id=correlation_id,
                       causation_id=causation_id,
                       traceparent=telemetry.current_traceparent()
                       or child_traceparent(traceparent, event_id)),
        event_id=event_id,
    )
