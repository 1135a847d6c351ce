"""The acknowledgement lane's batched locks and reads (:class:`BatchedRunLocks`), on the
in-memory twins: which runs go together, who gets a run, and how long its lock is held."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from eventlog import RecordedEvent, StoreUnavailableError
from eventlog.memory import InMemoryEventStore
from services.reporter.audit import InMemoryAuditLog
from services.reporter.batched_run_locks import BatchedRunLocks, LockedRun
from services.reporter.bootstrap import ReporterAdapters, wire_reporter
from services.reporter.ledger import DELIVERED, HeldRunLocks
from services.reporter.ledger_memory import InMemoryLedger
from tests.reporter import events as ev
from tests.reporter.fake_port import RecordingLabelbox
from tests.reporter.in_memory import unit_settings


class GatedLedger(InMemoryLedger):
    """The in-memory ledger, recording each batch of runs it is asked to lock; while
    ``gate`` is clear, a lock statement waits (as one on its way to PostgreSQL)."""

    def __init__(self, audit: InMemoryAuditLog | None = None) -> None:
        super().__init__(audit)
        self.batches: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    @asynccontextmanager
    async def run_locks(self, stream_ids: Sequence[str]) -> AsyncIterator[HeldRunLocks]:
        self.batches.append(list(stream_ids))
        await self.gate.wait()
        async with super().run_locks(stream_ids) as held:
            yield held


class UnreachableStore(InMemoryEventStore):
    async def read_streams(self, stream_ids: Sequence[str]) -> dict[str, list[RecordedEvent]]:
        raise StoreUnavailableError("the database is away")


@pytest.fixture
def ledger() -> GatedLedger:
    return GatedLedger()


@pytest.fixture
async def store() -> InMemoryEventStore:
    store = InMemoryEventStore()
    for run in ("run-1", "run-2", "run-3"):
        await store.append(f"model_run-{run}", [ev.requested(run)])
    return store


async def got_all(got: dict[str, LockedRun | None], count: int) -> None:
    """Until ``count`` callers have their run (or heard ``None``)."""
    while len(got) < count:  # noqa: ASYNC110 (a few loop turns)
        await asyncio.sleep(0.001)


async def hold_and_keep(reads: BatchedRunLocks, stream_id: str, release: asyncio.Event,
                        got: dict[str, LockedRun | None]) -> None:
    async with reads.hold(stream_id) as run:
        got[stream_id] = run
        await release.wait()


async def test_a_run_alone_is_locked_and_read_at_once(
    store: InMemoryEventStore, ledger: GatedLedger,
) -> None:
    reads = BatchedRunLocks(store, ledger)

    async with reads.hold("model_run-run-1") as run:
        assert run is not None
        assert [e.event_type for e in run.events] == ["TrainingRequested"]
        assert run.ledger == {}
        async with ledger.run_lock("model_run-run-1", wait=False) as elsewhere:
            assert not elsewhere  # held for the block

    assert ledger.batches == [["model_run-run-1"]]
    async with ledger.run_lock("model_run-run-1", wait=False) as after:
        assert after


async def test_runs_asking_while_a_batch_is_read_go_together_in_the_next(
    store: InMemoryEventStore, ledger: GatedLedger,
) -> None:
    reads = BatchedRunLocks(store, ledger)
    release, got = asyncio.Event(), dict[str, LockedRun | None]()
    ledger.gate.clear()
    first = asyncio.create_task(hold_and_keep(reads, "model_run-run-1", release, got))
    await asyncio.sleep(0.01)  # its batch is on its way
    later = [asyncio.create_task(hold_and_keep(reads, f"model_run-{run}", release, got))
             for run in ("run-2", "run-3")]
    await asyncio.sleep(0.01)
    ledger.gate.set()
    await asyncio.wait_for(got_all(got, 3), 10)
    release.set()
    await asyncio.gather(first, *later)

    assert ledger.batches == [["model_run-run-1"], ["model_run-run-2", "model_run-run-3"]]
    assert all(run is not None and len(run.events) == 1 for run in got.values())


async def test_a_run_locked_elsewhere_or_twice_in_a_batch_is_not_read_for_the_caller(
    store: InMemoryEventStore, ledger: GatedLedger,
) -> None:
    reads = BatchedRunLocks(store, ledger)
    release, got = asyncio.Event(), dict[str, LockedRun | None]()
    duplicate: list[LockedRun | None] = []

    async def hold_the_duplicate() -> None:
        async with reads.hold("model_run-run-2") as run:
            duplicate.append(run)

    async with ledger.run_lock("model_run-run-1"):  # another holder: the main lane, say
        ledger.gate.clear()
        tasks = [asyncio.create_task(hold_and_keep(reads, "model_run-run-1", release, got)),
                 asyncio.create_task(hold_and_keep(reads, "model_run-run-2", release, got)),
                 asyncio.create_task(hold_the_duplicate())]
        await asyncio.sleep(0.01)
        ledger.gate.set()
        await tasks[2]
        await asyncio.wait_for(got_all(got, 2), 10)
    release.set()
    await asyncio.gather(*tasks)

    assert got["model_run-run-1"] is None
    assert got["model_run-run-2"] is not None
    assert duplicate == [None]  # the same run twice: one caller gets it


async def test_each_runs_lock_is_released_when_its_caller_is_done_not_with_its_batch(
    store: InMemoryEventStore, ledger: GatedLedger,
) -> None:
    reads = BatchedRunLocks(store, ledger)
    slow_release, quick_release = asyncio.Event(), asyncio.Event()
    got: dict[str, LockedRun | None] = {}
    ledger.gate.clear()
    first = asyncio.create_task(hold_and_keep(reads, "model_run-run-1", slow_release, got))
    await asyncio.sleep(0.01)
    batch = [asyncio.create_task(hold_and_keep(reads, "model_run-run-2", slow_release, got)),
             asyncio.create_task(hold_and_keep(reads, "model_run-run-3", quick_release, got))]
    ledger.gate.set()
    await asyncio.wait_for(got_all(got, 3), 10)
    assert ledger.batches[1] == ["model_run-run-2", "model_run-run-3"]

    quick_release.set()
    await asyncio.wait_for(batch[1], 10)  # returns with its lock released
    async with ledger.run_locks(["model_run-run-2", "model_run-run-3"]) as free:
        assert free.held == {"model_run-run-3"}  # run-2, of the same batch, is still held
    slow_release.set()
    await asyncio.gather(first, batch[0])
    async with ledger.run_locks(["model_run-run-1", "model_run-run-2"]) as free:
        assert free.held == {"model_run-run-1", "model_run-run-2"}


async def test_a_caller_whose_block_failed_can_lock_its_run_again_at_once(
    store: InMemoryEventStore, ledger: GatedLedger,
) -> None:
    """A delivery whose record met an outage is tried again by the consumer at once: it must
    find its run free, not held by its own earlier batch."""
    reads = BatchedRunLocks(store, ledger)
    release, got = asyncio.Event(), dict[str, LockedRun | None]()
    ledger.gate.clear()
    other = asyncio.create_task(hold_and_keep(reads, "model_run-run-2", release, got))
    await asyncio.sleep(0.01)

    async def failing() -> None:
        async with reads.hold("model_run-run-1") as run:
            assert run is not None
            raise StoreUnavailableError("the record met an outage")

    failed = asyncio.create_task(failing())
    ledger.gate.set()
    with pytest.raises(StoreUnavailableError):
        await asyncio.wait_for(failed, 10)
    async with reads.hold("model_run-run-1") as again:
        assert again is not None
    release.set()
    await other


async def test_a_caller_cancelled_before_its_run_was_read_leaves_no_lock_behind(
    store: InMemoryEventStore, ledger: GatedLedger,
) -> None:
    reads = BatchedRunLocks(store, ledger)
    ledger.gate.clear()

    async def hold(stream_id: str) -> None:
        async with reads.hold(stream_id):
            pass

    waiting = asyncio.create_task(hold("model_run-run-1"))
    await asyncio.sleep(0.01)
    waiting.cancel()
    ledger.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.wait_for(hold("model_run-run-2"), 10)  # the lane goes on

    async with ledger.run_locks(["model_run-run-1"]) as free:
        assert free.held == {"model_run-run-1"}


async def test_a_duplicate_gets_the_run_when_the_first_caller_left_before_the_read(
    store: InMemoryEventStore, ledger: GatedLedger,
) -> None:
    """The consumer requeues a cancelled delivery; its redelivery may join the same batch."""
    reads = BatchedRunLocks(store, ledger)
    ledger.gate.clear()
    release, kept = asyncio.Event(), dict[str, LockedRun | None]()
    first_batch = asyncio.create_task(hold_and_keep(reads, "model_run-run-2", release, kept))
    await asyncio.sleep(0.01)  # run-2's batch is on its way: the next two go together
    got: list[LockedRun | None] = []

    async def hold(stream_id: str) -> None:
        async with reads.hold(stream_id) as run:
            got.append(run)

    cancelled = asyncio.create_task(hold("model_run-run-1"))
    redelivered = asyncio.create_task(hold("model_run-run-1"))
    await asyncio.sleep(0.01)
    cancelled.cancel()
    ledger.gate.set()
    await asyncio.wait_for(redelivered, 10)
    release.set()
    await first_batch

    assert len(got) == 1 and got[0] is not None  # the duplicate got it
    assert ledger.batches[1] == ["model_run-run-1"]


async def test_a_database_outage_reaches_every_caller_of_the_batch_with_its_own_error(
    ledger: GatedLedger,
) -> None:
    reads = BatchedRunLocks(UnreachableStore(), ledger)
    ledger.gate.clear()

    async def hold(stream_id: str) -> None:
        async with reads.hold(stream_id):
            pass

    tasks = [asyncio.create_task(hold(f"model_run-run-{n}")) for n in (1, 2)]
    await asyncio.sleep(0.01)
    ledger.gate.set()
    errors = await asyncio.gather(*tasks, return_exceptions=True)

    assert all(isinstance(e, StoreUnavailableError) for e in errors)
    assert errors[0] is not errors[1]
    async with ledger.run_locks(["model_run-run-1", "model_run-run-2"]) as free:
        assert free.held == {"model_run-run-1", "model_run-run-2"}  # nothing left held


async def test_acknowledgements_arriving_together_are_each_sent_once_from_fewer_reads(
    store: InMemoryEventStore, tmp_path: Path,
) -> None:
    audit = InMemoryAuditLog()
    ledger, port = GatedLedger(audit), RecordingLabelbox()
    reporter = wire_reporter(unit_settings(tmp_path), ReporterAdapters(store, ledger, audit),
                             port)
    runs = ("run-1", "run-2", "run-3")
    try:
        ledger.gate.clear()
        acknowledging = [asyncio.create_task(reporter.reconciler.acknowledge(f"model_run-{r}"))
                         for r in runs]
        await asyncio.sleep(0.01)
        ledger.gate.set()
        await asyncio.wait_for(asyncio.gather(*acknowledging), 10)
        again = [asyncio.create_task(reporter.reconciler.acknowledge(f"model_run-{r}"))
                 for r in runs]  # duplicates, redeliveries: nothing is sent twice
        await asyncio.wait_for(asyncio.gather(*again), 10)
    finally:
        reporter.calls.close()

    assert sorted((run, status) for run, status, _, _ in port.statuses) == [
        (run, "EXPORTING_DATA") for run in runs]
    assert ledger.batches[:2] == [["model_run-run-1"], ["model_run-run-2", "model_run-run-3"]]
    for run in runs:
        entries = await ledger.entries(f"model_run-{run}")
        assert [e.state for e in entries.values()] == [DELIVERED]
