"""The acknowledgement lane's locks and reads, batched: the runs that ask while one batch is
being locked and read go together in the next, with one lock statement, one stream read and
one ledger read for all of them (instead of a lock, an unlock and two reads per run). Alone,
a run goes at once, by itself.

Nothing is weakened: each run of a batch is read only after its lock is held, and its lock is
held until every run of its batch is done with it (the batch's locks live on one connection,
released together in one statement). A run whose lock another holder has (another reporter,
this one's main lane, or the same run twice in one batch) is not read: its caller hears
``None``, as from a lock it could not take."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from eventlog import EventStore, RecordedEvent, StoreUnavailableError
from services.reporter.ledger import Ledger, LedgerEntry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LockedRun:
    """A run whose lock the caller holds, as read after the lock was taken."""

    events: list[RecordedEvent]
    ledger: dict[str, LedgerEntry]


@dataclass
class _Batch:
    stream_ids: list[str] = field(default_factory=list)
    read: asyncio.Future[dict[str, LockedRun]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())
    """The runs locked and read, once they are."""
    members: int = 0
    left: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when every caller of the batch is done: its locks are released then."""
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        # Its callers may all have been cancelled before an error came: nobody to log it.
        self.read.add_done_callback(lambda read: read.cancelled() or read.exception())

    def leave(self) -> None:
        self.members -= 1
        if self.members == 0:
            self.left.set()


class BatchedRunReads:
    def __init__(self, store: EventStore, ledger: Ledger) -> None:
        self._store = store
        self._ledger = ledger
        self._forming: _Batch | None = None
        """The batch the next callers join: it starts when the one being read is."""
        self._reading = False
        self._tasks: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def hold(self, stream_id: str) -> AsyncIterator[LockedRun | None]:
        """The run, locked and read, for the block; ``None`` if its lock is held elsewhere."""
        batch = self._forming
        if batch is None:
            batch = self._forming = _Batch()
        first = stream_id not in batch.stream_ids
        if first:
            batch.stream_ids.append(stream_id)
        batch.members += 1
        try:
            if not self._reading:
                self._start_next()
            try:
                runs = await asyncio.shield(batch.read)
            except StoreUnavailableError as exc:  # each caller its own error
                raise StoreUnavailableError(str(exc)) from exc
            except Exception as exc:
                raise RuntimeError(f"the runs {batch.stream_ids} could not be locked and "
                                   f"read: {exc!r}") from exc
            yield runs.get(stream_id) if first else None
        finally:
            batch.leave()
            if batch.members == 0 and batch.read.done():
                await batch.released.wait()  # the last caller leaves with the locks released

    def _start_next(self) -> None:
        batch, self._forming = self._forming, None
        if batch is None:
            self._reading = False
            return
        self._reading = True
        task = asyncio.create_task(self._lock_and_read(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _lock_and_read(self, batch: _Batch) -> None:
        try:
            async with self._ledger.run_locks(batch.stream_ids) as locked:
                held = sorted(locked)
                streams, ledgers = await asyncio.gather(self._store.read_streams(held),
                                                        self._ledger.entries_of(held))
                batch.read.set_result({
                    s: LockedRun(streams.get(s, []), ledgers.get(s, {}) if s in streams else {})
                    for s in held})
                self._start_next()
                await batch.left.wait()
            batch.released.set()
        except BaseException as exc:
            if not batch.read.done():
                batch.read.set_exception(StoreUnavailableError(
                    "the reporter stopped before these runs were locked and read")
                    if isinstance(exc, asyncio.CancelledError) else exc)
                self._start_next()
            elif not isinstance(exc, asyncio.CancelledError):  # releasing: the locks go
                logger.warning("releasing the locks of %s: %r", batch.stream_ids, exc)
            batch.released.set()  # (a failed unlock closed the connection: no lock is left)
            if isinstance(exc, asyncio.CancelledError):
                raise
