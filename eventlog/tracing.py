"""W3C trace context (``traceparent``) carried in event metadata and AMQP headers, so one
model run can be followed from the webhook through every event, message and Labelbox call.
Each event is a span: its ``traceparent`` keeps the trace id of its cause, with a span id of
its own derived from the event id (deterministic, so a repeated append is identical)."""

from __future__ import annotations

import re
import secrets
import uuid

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def valid_traceparent(value: str | None) -> str | None:
    """``value`` if it is a well-formed version-00 traceparent with non-zero ids."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None or set(match[1]) == {"0"} or set(match[2]) == {"0"}:
        return None
    return match[0]


def new_traceparent() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def child_traceparent(parent: str | None, event_id: uuid.UUID) -> str:
    """The traceparent of an event caused by a message carrying ``parent`` (a new trace
    when there is none)."""
    match = _TRACEPARENT.match(parent or "")
    trace_id = match[1] if match else event_id.hex
    flags = match[3] if match else "01"
    span_id = event_id.hex[:16] if set(event_id.hex[:16]) != {"0"} else "1" * 16
    return f"00-{trace_id}-{span_id}-{flags}"


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of ``traceparent`` (``None`` if it is not a valid one)."""
    valid = valid_traceparent(traceparent)
    return None if valid is None else valid[3:35]
