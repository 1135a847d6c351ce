"""``trainbridge retry <modelRunId>``: start a new attempt of a failed run without a new click
in Labelbox. The new ``TrainingRequested`` repeats the last request and records who asked and
why; it takes the same event id and expected version as a webhook's new attempt would, so a
retry racing a new click appends one attempt, not two."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventlog import ConcurrencyError, EventStore, caused_event
from eventlog.contract import TRAINING_FAILED, TRAINING_REQUESTED, stream_of
from services.ingest.intake import EVENT_ID_NAMESPACE, RunState, current_attempt

# What the retry does not repeat from the last webhook: facts about that HTTP request.
_REQUEST_FACTS = ("receivedAt", "remoteAddress", "secretIndex", "signatureAlgorithms",
                  "bodySha256")


class RetryRefusedError(Exception):
    """The run cannot be retried (unknown, or not failed); the message says why."""


@dataclass(frozen=True)
class Retried:
    model_run_id: str
    attempt: int
    event_id: uuid.UUID


async def retry_run(store: EventStore, model_run_id: str, *, by: str, reason: str) -> Retried:
    if not reason.strip():
        raise RetryRefusedError("give a --reason: it is recorded with the new attempt")
    stream_id = stream_of(model_run_id)
    events = await store.read_stream(stream_id)
    requests = [e for e in events if e.event_type == TRAINING_REQUESTED]
    if not requests:
        raise RetryRefusedError(f"no model run {model_run_id!r} in the event log")
    attempt, state = current_attempt(events)
    if state is RunState.IN_PROGRESS:
        raise RetryRefusedError(f"model run {model_run_id} attempt {attempt} is still in "
                                "progress: only a failed run can be retried")
    if state is RunState.COMPLETE:
        raise RetryRefusedError(f"model run {model_run_id} is complete: only a failed run "
                                "can be retried")
    last = requests[-1]
    failure = next((e for e in reversed(events) if e.event_type == TRAINING_FAILED), None)
    data: dict[str, Any] = {k: v for k, v in last.data.items() if k not in _REQUEST_FACTS}
    data.update({
        "attempt": attempt + 1,
        "receivedAt": datetime.now(UTC).isoformat(),
        "retry": {"requestedBy": by, "reason": reason, "previousAttempt": attempt,
                  "previousFailure": failure.data.get("message") if failure else None},
    })
    event_id = uuid.uuid5(EVENT_ID_NAMESPACE, f"{stream_id}/attempt/{attempt + 1}")
    event = caused_event(TRAINING_REQUESTED, data, producer="operator", event_id=event_id,
                         correlation_id=f"retry-{uuid.uuid4()}",
                         causation_id=failure.event_id if failure else last.event_id)
    try:
        await store.append(stream_id, [event], events[-1].stream_version)
    except ConcurrencyError as exc:
        raise RetryRefusedError(f"model run {model_run_id} changed while retrying (a new "
                                "attempt may have just started); look again") from exc
    return Retried(model_run_id, attempt + 1, event_id)
