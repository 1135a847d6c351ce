"""The reporter's group commit: rows written at the same moment by several runs go to
PostgreSQL together, and still each writer goes on only once its own row is stored, with its
own outcome."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from eventlog import StoreUnavailableError, UnstorableTextError
from eventlog.postgres import Connection, Database
from services.reporter.group_commit import GroupCommit

INSERT = "INSERT INTO probe (n, note) VALUES ($1, $2)"


@pytest.fixture
async def probe(sql: asyncpg.Connection) -> None:
    await sql.execute("CREATE TABLE probe (n int PRIMARY KEY, note text, "
                      "tx xid8 NOT NULL DEFAULT pg_current_xact_id())")


async def test_rows_written_at_the_same_moment_share_one_transaction(
    probe: None, database: Database, sql: asyncpg.Connection,
) -> None:
    writes = GroupCommit(database)

    await asyncio.gather(*(writes.execute(INSERT, (n, f"row {n}")) for n in range(10)))

    rows = await sql.fetch("SELECT n, tx FROM probe ORDER BY n")
    assert [r["n"] for r in rows] == list(range(10))
    assert len({r["tx"] for r in rows}) == 1


async def test_a_row_written_alone_goes_at_once(
    probe: None, database: Database, sql: asyncpg.Connection,
) -> None:
    writes = GroupCommit(database)

    await writes.execute(INSERT, (1, "first"))
    await writes.execute(INSERT, (2, "second"))

    assert len({r["tx"] for r in await sql.fetch("SELECT tx FROM probe")}) == 2


async def test_each_writer_goes_on_only_once_its_row_is_stored(
    probe: None, database: Database,
) -> None:
    writes = GroupCommit(database)

    async def write_then_look(n: int) -> bool:
        await writes.execute(INSERT, (n, "row"))
        async with database.connection() as connection:  # another session: committed?
            stored: bool = await connection.fetchval(
                "SELECT EXISTS (SELECT FROM probe WHERE n = $1)", n)
        return stored

    assert await asyncio.gather(*(write_then_look(n) for n in range(6))) == [True] * 6


async def test_a_refused_row_fails_its_own_writer_only(
    probe: None, database: Database, sql: asyncpg.Connection,
) -> None:
    writes = GroupCommit(database)

    outcomes = await asyncio.gather(
        writes.execute(INSERT, (1, "fine")),
        writes.execute(INSERT, (2, "a NUL \x00 PostgreSQL refuses")),
        writes.execute(INSERT, (3, "fine too")),
        return_exceptions=True)

    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], UnstorableTextError)
    assert [r["n"] for r in await sql.fetch("SELECT n FROM probe ORDER BY n")] == [1, 3]


class AwayDatabase(Database):
    """A database that cannot be reached; counts the connections asked of it."""

    def __init__(self) -> None:
        self.asked = 0

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        self.asked += 1
        raise StoreUnavailableError("the database is away")
        yield  # pragma: no cover


async def test_when_the_database_is_away_every_writer_of_the_batch_hears_so_at_once() -> None:
    away = AwayDatabase()
    writes = GroupCommit(away)

    outcomes = await asyncio.gather(*(writes.execute(INSERT, (n, "row")) for n in range(4)),
                                    return_exceptions=True)

    assert all(isinstance(o, StoreUnavailableError) for o in outcomes)
    assert away.asked == 1  # no row was tried again alone


class GatedDatabase(Database):
    """The real database, each connection handed out only once the gate opens."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        self.waiting.set()
        await self.gate.wait()
        async with self.database.connection() as connection:
            yield connection


async def test_a_writer_cancelled_while_its_row_waits_in_the_queue_leaves_it_unwritten(
    probe: None, database: Database, sql: asyncpg.Connection,
) -> None:
    gated = GatedDatabase(database)
    writes = GroupCommit(gated)
    first = asyncio.create_task(writes.execute(INSERT, (1, "on its way")))
    await gated.waiting.wait()  # row 1's batch is on its way: row 2 waits in the queue
    second = asyncio.create_task(writes.execute(INSERT, (2, "queued")))
    await asyncio.sleep(0)

    second.cancel()
    gated.gate.set()
    await first

    with pytest.raises(asyncio.CancelledError):
        await second
    assert [r["n"] for r in await sql.fetch("SELECT n FROM probe")] == [1]


async def test_a_writer_cancelled_while_its_row_is_on_its_way_waits_for_the_write_to_end(
    probe: None, database: Database, sql: asyncpg.Connection,
) -> None:
    gated = GatedDatabase(database)
    writes = GroupCommit(gated)
    writer = asyncio.create_task(writes.execute(INSERT, (1, "on its way")))
    await gated.waiting.wait()

    writer.cancel()
    await asyncio.sleep(0.05)
    assert not writer.done()  # what the writer holds (its run's lock) outlives the write
    gated.gate.set()

    with pytest.raises(asyncio.CancelledError):
        await writer
    assert [r["n"] for r in await sql.fetch("SELECT n FROM probe")] == [1]
