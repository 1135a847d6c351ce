"""An in-memory event store for unit tests. It passes the same contract suite as the
PostgreSQL store, so tests that use it prove behaviour that holds in production."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from eventlog.errors import ConcurrencyError, EventIdConflictError, UnstorableTextError
from eventlog.events import (
    LOG_START,
    AppendResult,
    ExpectedVersion,
    LogPosition,
    NewEvent,
    RecordedEvent,
    StreamState,
    validate_append,
)
from eventlog.text import unstorable_field


def check_expected_version(stream_id: str, expected: ExpectedVersion, actual: int) -> None:
    """Raise ``ConcurrencyError`` unless a stream at ``actual`` satisfies ``expected``."""
    if expected is StreamState.ANY:
        return
    wanted = 0 if expected is StreamState.NO_STREAM else expected
    if actual != wanted:
        raise ConcurrencyError(stream_id, expected, actual)


class _State:
    def __init__(self) -> None:
        self.log: list[RecordedEvent] = []
        self.streams: dict[str, list[RecordedEvent]] = {}
        self.by_id: dict[str, RecordedEvent] = {}
        self.inbox: set[tuple[str, str]] = set()
        self.transaction_id = 0


class InMemoryUnitOfWork:
    def __init__(self, state: _State, clock: Callable[[], datetime]) -> None:
        self._state = state
        self._clock = clock
        self._pending: list[RecordedEvent] = []
        self._pending_inbox: set[tuple[str, str]] = set()
        self._state.transaction_id += 1
        self._transaction_id = self._state.transaction_id

    def _stream(self, stream_id: str) -> list[RecordedEvent]:
        committed = self._state.streams.get(stream_id, [])
        return committed + [e for e in self._pending if e.stream_id == stream_id]

    def _stored(self, event_id: str) -> RecordedEvent | None:
        found = self._state.by_id.get(event_id)
        if found is None:
            found = next((e for e in self._pending if str(e.event_id) == event_id), None)
        return found

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = StreamState.ANY,
    ) -> AppendResult:
        validate_append(events, expected_version)
        for event in events:  # as PostgreSQL refuses it
            where = unstorable_field({"data": event.data, "metadata": event.metadata})
            if where is not None:
                raise UnstorableTextError(f"PostgreSQL refused text (NUL or a lone surrogate) "
                                          f"in {event.event_type} {where}")
        stored = [self._stored(str(e.event_id)) for e in events]
        if any(stored):
            return _idempotent_result(stream_id, stored)
        version = len(self._stream(stream_id))
        check_expected_version(stream_id, expected_version, version)
        position = len(self._state.log) + len(self._pending)
        recorded = [
            RecordedEvent(
                stream_id=stream_id,
                stream_version=version + n,
                event_id=event.event_id,
                event_type=event.event_type,
                data=dict(event.data),
                metadata=dict(event.metadata),
                recorded_at=self._clock(),
                position=LogPosition(self._transaction_id, position + n),
            )
            for n, event in enumerate(events, start=1)
        ]
        self._pending.extend(recorded)
        return AppendResult(stream_id, version + len(events), tuple(e.position for e in recorded))

    async def read_stream(self, stream_id: str, *, from_version: int = 1) -> list[RecordedEvent]:
        return [e for e in self._stream(stream_id) if e.stream_version >= from_version]

    async def record_processed(self, consumer: str, message_id: str, event_type: str) -> bool:
        key = (consumer, message_id)
        if key in self._state.inbox or key in self._pending_inbox:
            return False
        self._pending_inbox.add(key)
        return True

    def commit(self) -> bool:
        for event in self._pending:
            self._state.log.append(event)
            self._state.streams.setdefault(event.stream_id, []).append(event)
            self._state.by_id[str(event.event_id)] = event
        self._state.inbox |= self._pending_inbox
        return bool(self._pending)


def _idempotent_result(stream_id: str, stored: Sequence[RecordedEvent | None]) -> AppendResult:
    if not all(e is not None and e.stream_id == stream_id for e in stored):
        raise EventIdConflictError(
            f"stream {stream_id!r}: some event ids are already stored elsewhere or not all are"
        )
    found = [e for e in stored if e is not None]
    return AppendResult(
        stream_id,
        max(e.stream_version for e in found),
        tuple(e.position for e in found),
        already_stored=True,
    )


class InMemoryEventStore:
    """Transactions are serialised by one lock: simple, and enough for a fake."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._state = _State()
        self._clock = clock
        self._lock = asyncio.Lock()
        self._listeners: list[Callable[[], None]] = []

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[InMemoryUnitOfWork]:
        async with self._lock:
            uow = InMemoryUnitOfWork(self._state, self._clock)
            yield uow
            appended = uow.commit()
        if appended:
            for listener in self._listeners:
                listener()

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = StreamState.ANY,
    ) -> AppendResult:
        async with self.unit_of_work() as uow:
            return await uow.append(stream_id, events, expected_version)

    async def read_stream(self, stream_id: str, *, from_version: int = 1) -> list[RecordedEvent]:
        return [
            e for e in self._state.streams.get(stream_id, []) if e.stream_version >= from_version
        ]

    async def read_all(
        self, after: LogPosition = LOG_START, *, limit: int = 500
    ) -> list[RecordedEvent]:
        return [e for e in self._state.log if e.position > after][:limit]

    async def is_processed(self, consumer: str, message_id: str) -> bool:
        return (consumer, message_id) in self._state.inbox

    def on_commit(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)
