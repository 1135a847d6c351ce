"""Deciding what a verified ``POST /model_run`` does to the model run's stream.

A run with no attempt, or whose last attempt failed, gets a new ``TrainingRequested``; a run
in progress or complete gets an idempotent answer and nothing is appended. Concurrent
identical requests race on the stream's expected version: one appends, the rest re-read and
find the attempt in progress. A run's first request costs one statement: attempt 1 is
appended on the condition that the stream does not exist yet, and only when it does is the
stream read."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventlog import (
    ConcurrencyError,
    EventStore,
    NewEvent,
    RecordedEvent,
    StreamState,
    caused_event,
)
from eventlog.contract import TRAINING_COMPLETED, TRAINING_FAILED, TRAINING_REQUESTED
from services.ingest.model_run import ModelRunRequest

EVENT_ID_NAMESPACE = uuid.UUID("6f1c1f5e-3c0e-4d0e-9a63-0c2b1d1e7a10")
TERMINAL_FAILURE = TRAINING_FAILED
TERMINAL_SUCCESS = TRAINING_COMPLETED


class RunState(enum.Enum):
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"


@dataclass(frozen=True)
class Receipt:
    """Facts about the HTTP request that the event records."""

    received_at: datetime
    remote_address: str | None
    secret_index: int
    signature_algorithms: tuple[str, ...]
    body_sha256: str
    correlation_id: str
    traceparent: str | None = None
    """The caller's W3C trace context, when it sent a valid one."""


@dataclass(frozen=True)
class Outcome:
    state: RunState
    attempt: int
    event_id: uuid.UUID | None = None

    @property
    def appended(self) -> bool:
        return self.state is RunState.ACCEPTED


def current_attempt(events: list[RecordedEvent]) -> tuple[int, RunState | None]:
    """The last attempt's number and state (``None`` when it failed or there is none)."""
    attempt, state = 0, None
    for event in events:
        if event.event_type == TRAINING_REQUESTED:
            attempt, state = int(event.data.get("attempt", attempt + 1)), RunState.IN_PROGRESS
        elif (state is not RunState.IN_PROGRESS
              or int(event.data.get("attempt", attempt)) != attempt):
            continue  # only the current attempt's outcome counts
        elif event.event_type == TERMINAL_SUCCESS:
            state = RunState.COMPLETE
        elif event.event_type == TERMINAL_FAILURE:
            state = None
    return attempt, state


def training_requested(request: ModelRunRequest, receipt: Receipt, attempt: int) -> NewEvent:
    data: dict[str, Any] = {
        "modelType": request.model_type,
        "modelRunId": request.model_run_id,
        "modelId": request.model_id,
        "organizationId": request.organization_id,
        "attempt": attempt,
        "receivedAt": receipt.received_at.isoformat(),
        "remoteAddress": receipt.remote_address,
        "secretIndex": receipt.secret_index,
        "signatureAlgorithms": list(receipt.signature_algorithms),
        "bodySha256": receipt.body_sha256,
        "request": request.payload,
    }
    # Deterministic: a retried append of the same attempt is an idempotent success.
    event_id = uuid.uuid5(EVENT_ID_NAMESPACE, f"{request.stream_id}/attempt/{attempt}")
    return caused_event(TRAINING_REQUESTED, data, producer="ingest", event_id=event_id,
                        correlation_id=receipt.correlation_id, traceparent=receipt.traceparent)


async def request_training(
    store: EventStore, request: ModelRunRequest, receipt: Receipt, *, max_races: int = 10
) -> Outcome:
    first = await _first_attempt(store, request, receipt)
    if first is not None:
        return first
    for _ in range(max_races):
        events = await store.read_stream(request.stream_id)
        attempt, state = current_attempt(events)
        if state is not None:
            return Outcome(state, attempt)
        event = training_requested(request, receipt, attempt + 1)
        expected = events[-1].stream_version if events else 0
        try:
            result = await store.append(request.stream_id, [event], expected)
        except ConcurrencyError:
            continue  # someone else appended first: look again
        if result.already_stored:
            return Outcome(RunState.IN_PROGRESS, attempt + 1)
        return Outcome(RunState.ACCEPTED, attempt + 1, event.event_id)
    raise ConcurrencyError(request.stream_id, "a stable version", None)


async def _first_attempt(
    store: EventStore, request: ModelRunRequest, receipt: Receipt
) -> Outcome | None:
    """Most requests are a run's first: append attempt 1 on the condition that the stream
    does not exist, which the store checks in the appending statement itself (one round trip,
    no read before it). ``None`` when the stream exists (attempt 1 stored already, or any
    other event): then its events decide, as for every later request."""
    event = training_requested(request, receipt, 1)
    try:
        result = await store.append(request.stream_id, [event], StreamState.NO_STREAM)
    except ConcurrencyError:
        return None
    if result.already_stored:
        return None
    return Outcome(RunState.ACCEPTED, 1, event.event_id)
