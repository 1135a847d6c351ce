"""The trainer's unit of work: the event log's, plus the training-job queue in the same
transaction (a ``DataExported`` delivery queues its job; a run's outcome closes it). Two
stores provide it: on PostgreSQL, and in memory for unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

from eventlog import (
    LOG_START,
    AppendResult,
    EventStore,
    EventStoreOf,
    ExpectedVersion,
    LogPosition,
    NewEvent,
    RecordedEvent,
    StreamState,
    UnitOfWork,
)
from eventlog.memory import InMemoryEventStore
from eventlog.postgres import PostgresEventStore
from services.trainer.jobs import JobQueue, PostgresJobQueue
from services.trainer.jobs_memory import InMemoryJobQueue, JobTable


class TrainerUnitOfWork(UnitOfWork, Protocol):
    @property
    def jobs(self) -> JobQueue: ...


class TrainerStore(EventStoreOf[TrainerUnitOfWork], Protocol):
    """The event store as the trainer uses it."""


class _TrainerUnitOfWork:
    def __init__(self, events: UnitOfWork, jobs: JobQueue) -> None:
        self._events = events
        self._jobs = jobs

    @property
    def jobs(self) -> JobQueue:
        return self._jobs

    async def append(self, stream_id: str, events: Sequence[NewEvent],
                     expected_version: ExpectedVersion = StreamState.ANY) -> AppendResult:
        return await self._events.append(stream_id, events, expected_version)

    async def read_stream(self, stream_id: str, *, from_version: int = 1) -> list[RecordedEvent]:
        return await self._events.read_stream(stream_id, from_version=from_version)

    async def record_processed(self, consumer: str, message_id: str, event_type: str) -> bool:
        return await self._events.record_processed(consumer, message_id, event_type)


class _Delegating:
    """The event store's own operations, passed through."""

    def __init__(self, events: EventStore) -> None:
        self.events = events

    async def append(self, stream_id: str, events: Sequence[NewEvent],
                     expected_version: ExpectedVersion = StreamState.ANY) -> AppendResult:
        return await self.events.append(stream_id, events, expected_version)

    async def read_stream(self, stream_id: str, *, from_version: int = 1) -> list[RecordedEvent]:
        return await self.events.read_stream(stream_id, from_version=from_version)

    async def read_all(self, after: LogPosition = LOG_START, *, limit: int = 500
                       ) -> list[RecordedEvent]:
        return await self.events.read_all(after, limit=limit)

    async def is_processed(self, consumer: str, message_id: str) -> bool:
        return await self.events.is_processed(consumer, message_id)

    def on_commit(self, callback: Callable[[], None]) -> None:
        self.events.on_commit(callback)


class PostgresTrainerStore(_Delegating):
    def __init__(self, events: PostgresEventStore) -> None:
        super().__init__(events)
        self._postgres = events

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[TrainerUnitOfWork]:
        async with self._postgres.unit_of_work() as uow:
            yield _TrainerUnitOfWork(uow, PostgresJobQueue(uow.connection))


class InMemoryTrainerStore(_Delegating):
    def __init__(self, events: InMemoryEventStore | None = None,
                 jobs: JobTable | None = None) -> None:
        memory = events or InMemoryEventStore()
        super().__init__(memory)
        self._memory = memory
        self.job_table = jobs or JobTable()

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[TrainerUnitOfWork]:
        async with self._memory.unit_of_work() as uow:
            jobs = InMemoryJobQueue(self.job_table)
            try:
                yield _TrainerUnitOfWork(uow, jobs)
            except BaseException:
                jobs.roll_back()
                raise
