"""The shared event log: the one way every Trainbridge service reads and writes events.

Import from here; the submodules are implementation detail."""

from eventlog.errors import (
    ConcurrencyError,
    EventIdConflictError,
    EventLogError,
    StoreUnavailableError,
    UnstorableTextError,
)
from eventlog.events import (
    LOG_START,
    AppendResult,
    ExpectedVersion,
    LogPosition,
    NewEvent,
    RecordedEvent,
    StreamState,
    caused_event,
    event_metadata,
)
from eventlog.store import EventStore, EventStoreOf, UnitOfWork

__all__ = [
    "LOG_START",
    "AppendResult",
    "ConcurrencyError",
    "EventIdConflictError",
    "EventLogError",
    "EventStore",
    "EventStoreOf",
    "ExpectedVersion",
    "LogPosition",
    "NewEvent",
    "RecordedEvent",
    "StoreUnavailableError",
    "StreamState",
    "UnitOfWork",
    "UnstorableTextError",
    "caused_event",
    "event_metadata",
]
