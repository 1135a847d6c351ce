"""The acknowledgement lane's run locks and reads, batched: the runs that ask while one batch
is being locked and read go together in the next, with one lock statement, one stream read
and one ledger read for all of them (instead of a lock and two reads per run). Alone, a run
goes at once, by itself. A batch's locks live on one connection: each run's lock is released
when its caller is done with it, and the runs whose callers are done while one release is on
its way are released together in the next.

Nothing is weakened: each run of a batch is read only after its lock is held, and its lock is
released only after its caller is done (its delivery recorded), before the caller goes on. A
run whose lock another holder has (another reporter, this one's main lane or an earlier
batch) is not read: its caller hears ``None``, as from a lock it could not take. Nor does a
second caller of the same run in one batch (a duplicate message) get it: the first caller
still waiting for the read does.

A failure to lock or read a batch reaches every caller of the batch (each its own error). A
failed release closes the batch's connection, and with it the locks of the batch's runs whose
callers are still at work, as a lost connection takes a main-lane run's lock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from eventlog import EventStore, RecordedEvent, StoreUnavailableError
from services.reporter.ledger import HeldRunLocks, Ledger, LedgerEntry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LockedRun:
    """A run whose lock the caller holds, as read after the lock was taken."""

    events: list[RecordedEvent]
    ledger: dict[str, LedgerEntry]


@dataclass
class _Batch:
    claims: dict[str, list[object]] = field(default_factory=dict)
    """Per run asked for, its callers still waiting for the read, in the order they came: the
    first of them gets the run (a later one is a duplicate, and hears ``None``)."""
    read: asyncio.Future[dict[str, LockedRun]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())
    """The runs locked and read (those a caller still waited for), once they are."""
    members: int = 0
    done_with: set[str] = field(default_factory=set)
    """Runs whose callers are done: their locks are to be released."""
    released: dict[str, asyncio.Event] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    over: bool = False
    """Its connection is given back: no lock of it is held any more."""

    def __post_init__(self) -> None:
        # Its callers may all have been cancelled before an error came: nobody to log it.
        self.read.add_done_callback(lambda read: read.cancelled() or read.exception())

    def join(self, stream_id: str) -> object:
        self.members += 1
        claim = object()
        self.claims.setdefault(stream_id, []).append(claim)
        return claim

    def got(self, stream_id: str, claim: object) -> LockedRun | None:
        """The run, if this claim is the one that gets it."""
        read = self.read
        if (not read.done() or read.cancelled() or read.exception() is not None
                or self.claims[stream_id][0] is not claim):
            return None
        return read.result().get(stream_id)

    def leave(self, stream_id: str, claim: object) -> asyncio.Event | None:
        """A caller is done: what tells it that its run's lock is released, if it held it.
        One that leaves before the read gives its claim up (a duplicate behind it gets the
        run)."""
        self.members -= 1
        self.changed.set()
        if not self.read.done():
            self.claims[stream_id].remove(claim)
            return None
        if self.got(stream_id, claim) is None or self.over:
            return None
        self.done_with.add(stream_id)
        return self.released.setdefault(stream_id, asyncio.Event())

    def end(self) -> None:
        self.over = True
        for released in self.released.values():
            released.set()


class BatchedRunLocks:
    def __init__(self, store: EventStore, ledger: Ledger) -> None:
        self._store = store
        self._ledger = ledger
        self._forming: _Batch | None = None
        """The batch the next callers join: it starts when the one being read is read."""
        self._reading = False
        self._tasks: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def hold(self, stream_id: str) -> AsyncIterator[LockedRun | None]:
        """The run, locked and read, for the block; ``None`` if its lock is held elsewhere.
        Its lock is released before this returns."""
        batch = self._forming
        if batch is None:
            batch = self._forming = _Batch()
        claim = batch.join(stream_id)
        try:
            if not self._reading:
                self._start_next()
            try:
                await asyncio.shield(batch.read)
            except StoreUnavailableError as exc:  # each caller its own error
                raise StoreUnavailableError(str(exc)) from exc
            except Exception as exc:
                raise RuntimeError(f"the runs {sorted(batch.claims)} could not be locked "
                                   f"and read: {exc!r}") from exc
            yield batch.got(stream_id, claim)
        finally:
            released = batch.leave(stream_id, claim)
            if released is not None:
                await released.wait()

    def _start_next(self) -> None:
        batch, self._forming = self._forming, None
        if batch is None:
            self._reading = False
            return
        self._reading = True
        task = asyncio.create_task(self._lock_and_read(batch))
        self._tasks.add(task)
        task.add_done_callback(lambda ended: self._ended(ended, batch))

    def _ended(self, task: asyncio.Task[None], batch: _Batch) -> None:
        """However the batch's task ended (even cancelled before it began): no caller is
        left waiting, and the next batch starts."""
        self._tasks.discard(task)
        failure = None if task.cancelled() else task.exception()
        if not batch.read.done():
            batch.read.set_exception(failure if failure is not None else StoreUnavailableError(
                "the reporter stopped before these runs were locked and read"))
            self._start_next()
        elif failure is not None:  # a failed release closed the connection: no lock is left
            logger.warning("releasing the locks of %s: %r", sorted(batch.claims), failure)
        batch.end()

    async def _lock_and_read(self, batch: _Batch) -> None:
        async with self._ledger.run_locks(list(batch.claims)) as locks:
            held = sorted(s for s in locks.held if batch.claims[s])
            streams, ledgers = ({}, {}) if not held else await asyncio.gather(
                self._store.read_streams(held), self._ledger.entries_of(held))
            read = {s: LockedRun(streams.get(s, []), ledgers.get(s, {}))
                    for s in held if batch.claims[s]}
            batch.read.set_result(read)
            # Runs whose callers all left meanwhile go before the next batch tries them.
            await locks.release([s for s in locks.held if s not in read])
            self._start_next()
            await self._release_as_callers_leave(batch, locks)

    @staticmethod
    async def _release_as_callers_leave(batch: _Batch, locks: HeldRunLocks) -> None:
        while True:
            if batch.done_with:
                releasing, batch.done_with = batch.done_with, set()
                await locks.release(releasing)
                for stream_id in releasing:
                    batch.released[stream_id].set()
            if batch.members == 0 and not batch.done_with:
                return
            await batch.changed.wait()
            batch.changed.clear()
