"""The reporter's parts on in-memory twins (event store, ledger, audit log) and a recording
Labelbox port, wired by production's :func:`wire_reporter`: unit tests of the deliverer and
the reconciler, without PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eventlog import NewEvent, RecordedEvent
from eventlog.memory import InMemoryEventStore
from services.reporter.audit import InMemoryAuditLog
from services.reporter.bootstrap import ReporterAdapters, wire_reporter
from services.reporter.calls import CallPolicy, LabelboxCalls
from services.reporter.deliverer import Deliverer
from services.reporter.ledger_memory import InMemoryLedger
from services.reporter.metrics import ReporterMetrics
from services.reporter.reconciler import Reconciler
from services.reporter.settings import ReporterSettings
from tests.reporter import events as ev
from tests.reporter.fake_port import RecordingLabelbox


def unit_settings(tmp_path: Path) -> ReporterSettings:
    return ReporterSettings(
        api_key="unused", artifacts_url=f"file://{tmp_path}/artifacts",
        endpoint="http://labelbox.invalid/graphql", reporter_id="reporter-unit",
        call_timeout=2.0,
        policy=CallPolicy(calls_per_second=1000, max_attempts=3, backoff_initial=0.001,
                          backoff_max=0.01, threads=4),
        concurrency=4, export_poll_interval=0.001, import_poll_interval=0.001,
        sweep_interval=0.2, metrics_port=0,
    )


class ReadRecordingEventStore(InMemoryEventStore):
    """The in-memory event store, recording each stream read as (stream, from version)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[str, int]] = []

    async def read_stream(self, stream_id: str, *, from_version: int = 1) -> list[RecordedEvent]:
        self.reads.append((stream_id, from_version))
        return await super().read_stream(stream_id, from_version=from_version)


@dataclass
class InMemoryReporter:
    store: ReadRecordingEventStore
    ledger: InMemoryLedger
    audit: InMemoryAuditLog
    port: RecordingLabelbox
    calls: LabelboxCalls
    deliverer: Deliverer
    reconciler: Reconciler
    settings: ReporterSettings
    metrics: ReporterMetrics

    async def append(self, run: str, *events: NewEvent) -> None:
        await self.store.append(f"model_run-{run}", list(events))

    async def request_training(self, run: str, attempt: int = 1) -> None:
        await self.append(run, ev.requested(run, attempt), ev.export_requested(run, attempt))

    async def stream(self, run: str) -> list[RecordedEvent]:
        return await self.store.read_stream(f"model_run-{run}")

    async def reconcile(self, run: str) -> None:
        await self.reconciler.reconcile(f"model_run-{run}", "test")


def in_memory_reporter(tmp_path: Path, port: RecordingLabelbox | None = None, *,
                       settings: ReporterSettings | None = None) -> InMemoryReporter:
    settings = settings or unit_settings(tmp_path)
    store, audit = ReadRecordingEventStore(), InMemoryAuditLog()
    ledger = InMemoryLedger(audit)
    port = port or RecordingLabelbox()
    built = wire_reporter(settings, ReporterAdapters(store, ledger, audit), port)
    return InMemoryReporter(store, ledger, audit, port, built.calls, built.deliverer,
                            built.reconciler, settings, built.metrics)
