"""The ports every service uses to reach the event log. Two implementations honour them
(:mod:`eventlog.postgres` and :mod:`eventlog.memory`); one contract test suite proves both."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol, TypeVar

from eventlog.events import (
    LOG_START,
    AppendResult,
    ExpectedVersion,
    LogPosition,
    NewEvent,
    RecordedEvent,
    StreamState,
)


class UnitOfWork(Protocol):
    """One database transaction: appends, reads and inbox records commit together or not at
    all. A consumer's handler gets one, so its effects and the record that it ran are atomic."""

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = StreamState.ANY,
    ) -> AppendResult:
        """Append inside this transaction. A version clash raises ``ConcurrencyError`` and
        dooms the transaction: retry the whole unit of work."""
        ...

    async def read_stream(self, stream_id: str, *, from_version: int = 1) -> list[RecordedEvent]:
        ...

    async def record_processed(self, consumer: str, message_id: str, event_type: str) -> bool:
        """Record in the inbox that ``consumer`` handled ``message_id``. Returns ``False``
        when it already had: the caller must then skip its effects."""
        ...


U_co = TypeVar("U_co", bound=UnitOfWork, covariant=True)


class EventStoreOf(Protocol[U_co]):
    """An event store whose units of work are ``U_co``: a service's own store adds the
    repositories it changes in the same transaction (the trainer's job queue)."""

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = StreamState.ANY,
    ) -> AppendResult:
        """Append in a transaction of its own. ``StreamState.ANY`` retries version clashes;
        an exact version or ``NO_STREAM`` raises ``ConcurrencyError`` on a clash. Re-appending
        event ids that are already stored in this stream returns their stored result."""
        ...

    async def read_stream(self, stream_id: str, *, from_version: int = 1) -> list[RecordedEvent]:
        """The stream's events from ``from_version`` on, in stream order."""
        ...

    async def read_all(
        self, after: LogPosition = LOG_START, *, limit: int = 500
    ) -> list[RecordedEvent]:
        """Up to ``limit`` events of the global log after ``after``, in log order. Only
        events whose order can no longer change are returned: an event committed later always
        sorts after everything returned so far."""
        ...

    async def is_processed(self, consumer: str, message_id: str) -> bool:
        ...

    def unit_of_work(self) -> AbstractAsyncContextManager[U_co]:
        """A transaction; it commits when the block exits normally, else rolls back."""
        ...

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (in this process) after every commit that appended events:
        the outbox relay's wake-up."""
        ...


EventStore = EventStoreOf[UnitOfWork]
"""The event store every service reads and writes through."""
