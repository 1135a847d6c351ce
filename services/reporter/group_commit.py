"""Group commit for the reporter's writes (audit rows, ledger rows): when several runs write
the same statement at once, the rows queued while one batch is on its way go together in the
next, as one ``executemany`` (one round trip, one transaction, one WAL flush).

Nothing is weakened: each writer still waits until its own row is committed, so a call's audit
row is stored before the next step of its run, as when each row went alone. Alone (nothing
else queued) a row goes at once, by itself. A batch is atomic: if PostgreSQL refuses it (one
row's text, say), each of its rows is written again alone, so each writer gets its own outcome
(its own ``UnstorableTextError``, or none); if the database is away, every writer of the batch
hears so at once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from eventlog import StoreUnavailableError
from eventlog.postgres import Database

_Queued = tuple[Sequence[Any], "asyncio.Future[None]"]


class GroupCommit:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._queued: dict[str, list[_Queued]] = {}
        self._sending: dict[str, asyncio.Task[None]] = {}
        """Per statement, the task writing its batches while any are queued."""

    async def execute(self, statement: str, args: Sequence[Any]) -> None:
        """Run ``statement`` with ``args``, maybe with other writers' rows of the same
        statement; returns once this row is committed.

        A writer cancelled while its row waits in the queue takes the row out: it is never
        written. One cancelled while its row is on its way waits for that batch to end before
        the cancellation goes on, so whatever the caller holds (its run's lock) outlives the
        write, as it did when each row went alone."""
        queued: _Queued = (args, asyncio.get_running_loop().create_future())
        self._queued.setdefault(statement, []).append(queued)
        sending = self._sending.get(statement)
        if sending is None or sending.done():
            self._sending[statement] = asyncio.create_task(self._send(statement))
        committed = queued[1]
        try:
            await asyncio.shield(committed)
        except asyncio.CancelledError:
            waiting = self._queued.get(statement, [])
            if any(q is queued for q in waiting):
                waiting[:] = [q for q in waiting if q is not queued]
            elif not committed.done():
                await asyncio.wait([committed])
            raise

    async def _send(self, statement: str) -> None:
        batch: list[_Queued] = []
        try:
            while batch := self._queued.pop(statement, []):
                await self._write(statement, batch)
        except BaseException:  # cancelled (the reporter stops): no writer waits forever
            for _, committed in batch + self._queued.pop(statement, []):
                _fail(committed, StoreUnavailableError(
                    "the reporter stopped before this row was known to be stored"))
            raise
        finally:
            if self._sending.get(statement) is asyncio.current_task():
                del self._sending[statement]

    async def _write(self, statement: str, batch: list[_Queued]) -> None:
        try:
            async with self._database.connection() as connection:
                if len(batch) == 1:
                    await connection.execute(statement, *batch[0][0])
                else:
                    await connection.executemany(statement, [args for args, _ in batch])
        except StoreUnavailableError as exc:  # the database is away: for every row alike
            _fail_all(batch, exc)
            return
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch[0][1], exc)
                return
        else:
            for _, committed in batch:
                _succeed(committed)
            return
        # PostgreSQL refused the batch: each row again alone, so each writer gets its own
        # outcome (outside the handler above: a writer's error must not carry the batch's,
        # which may be another run's row, as its context).
        for index, (args, committed) in enumerate(batch):
            try:
                async with self._database.connection() as connection:
                    await connection.execute(statement, *args)
            except StoreUnavailableError as away:  # for this row and the rest alike
                _fail_all(batch[index:], away)
                return
            except Exception as alone:
                _fail(committed, alone)
            else:
                _succeed(committed)


def _succeed(committed: asyncio.Future[None]) -> None:
    if not committed.done():
        committed.set_result(None)


def _fail(committed: asyncio.Future[None], exc: BaseException) -> None:
    if not committed.done():
        committed.set_exception(exc)


def _fail_all(batch: list[_Queued], exc: StoreUnavailableError) -> None:
    """Each writer its own error (one exception object raised in several tasks would mix
    their tracebacks), caused by ``exc``."""
    for _, committed in batch:
        own = StoreUnavailableError(str(exc))
        own.__cause__ = exc
        _fail(committed, own)
