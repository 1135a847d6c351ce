"""The reporter's test harness: its real components (ledger, audit log, reconciler) on
PostgreSQL, wired by the reporter's own bootstrap, calling the fake Labelbox through the
real SDK."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from eventlog import EventStore, NewEvent
from eventlog.artifacts import read_artifact, write_artifact
from eventlog.contract import Answer, Radio, prediction_lines, to_ndjson
from eventlog.postgres import Database, create_pool
from fake_labelbox.sample_rows import text_classification_rows
from services.reporter.bootstrap import build_reporter, sdk_port
from services.reporter.calls import LabelboxCalls
from services.reporter.ledger import Ledger
from services.reporter.metrics import ReporterMetrics
from services.reporter.reconciler import Reconciler
from services.reporter.settings import CallPolicy, ReporterSettings
from tests.fake_labelbox import FakeLabelbox
from tests.reporter import events as ev


@pytest.fixture
def reporter_settings(tmp_path: Path, fake_labelbox: FakeLabelbox) -> ReporterSettings:
    return ReporterSettings(
        api_key=fake_labelbox.api_key or "any-key", artifacts_url=f"file://{tmp_path}/artifacts",
        endpoint=fake_labelbox.endpoint, reporter_id="reporter-test", call_timeout=2.0,
        policy=CallPolicy(calls_per_second=1000, max_attempts=12, backoff_initial=0.01,
                          backoff_max=0.2, threads=16),
        concurrency=8, export_poll_interval=0.01, import_poll_interval=0.01,
        sweep_interval=0.2, metrics_port=0,
    )


@dataclass
class Reporter:
    """The reporter's parts, wired as ``trainbridge reporter`` wires them."""

    store: EventStore
    ledger: Ledger
    reconciler: Reconciler
    calls: LabelboxCalls
    metrics: ReporterMetrics
    settings: ReporterSettings
    fake: FakeLabelbox
    tmp_path: Path
    pool: asyncpg.Pool

    async def reconcile(self, run: str) -> None:
        await self.reconciler.reconcile(f"model_run-{run}", "test")

    async def append(self, run: str, *events: NewEvent) -> None:
        await self.store.append(f"model_run-{run}", list(events))

    async def request_training(self, run: str, attempt: int = 1) -> None:
        """What ingest and the trainer record before the reporter must export."""
        await self.append(run, ev.requested(run, attempt), ev.export_requested(run, attempt))

    async def exported_rows(self, run: str) -> list[dict[str, Any]]:
        exported = [e for e in await self.store.read_stream(f"model_run-{run}")
                    if e.event_type == "DataExported"]
        assert exported, f"{run}: no DataExported"
        uri = exported[-1].data["uri"]
        raw = read_artifact(uri, exported[-1].data["sha256"])
        return [json.loads(line) for line in raw.splitlines()]

    def trainer_events(self, run: str, data_row_ids: list[str], attempt: int = 1
                       ) -> list[NewEvent]:
        """What the trainer records after a successful training of ``data_row_ids``."""
        lines = [line for d in data_row_ids for line in prediction_lines(
            run, d, (Radio("sentiment", Answer("positive", 0.75)),), 0.75)]
        artifact = write_artifact(
            f"file://{self.tmp_path}/predictions/{run}-{attempt}.ndjson", to_ndjson(lines))
        return [ev.stage(run, "PREPARING_DATA", attempt, rows=str(len(data_row_ids))),
                ev.stage(run, "TRAINING_MODEL", attempt, C="1.0"),
                ev.stage(run, "EVALUATING", attempt), ev.evaluated(run, attempt),
                ev.stage(run, "PREDICTING", attempt),
                ev.predictions(run, artifact.uri, artifact.sha256, len(data_row_ids), attempt),
                ev.completed(run, attempt)]

    async def train(self, run: str, attempt: int = 1) -> None:
        ids = [r["data_row"]["id"] for r in await self.exported_rows(run)]
        await self.append(run, *self.trainer_events(run, ids, attempt))

    async def audit(self, run: str) -> list[asyncpg.Record]:
        async with self.pool.acquire() as connection:
            rows: list[asyncpg.Record] = await connection.fetch(
                "SELECT * FROM labelbox_calls WHERE model_run_id = $1 ORDER BY call_id", run)
        return rows

    async def ledger_rows(self, run: str) -> list[asyncpg.Record]:
        async with self.pool.acquire() as connection:
            rows: list[asyncpg.Record] = await connection.fetch(
                "SELECT * FROM reporter_deliveries WHERE model_run_id = $1 ORDER BY created_at",
                run)
        return rows


def reporter_on(pool: asyncpg.Pool, settings: ReporterSettings, fake: FakeLabelbox,
                tmp_path: Path) -> Reporter:
    """A reporter built by ``trainbridge reporter``'s bootstrap, without messaging."""
    built = build_reporter(settings, Database(pool), sdk_port(settings))
    return Reporter(built.store, built.ledger, built.reconciler, built.calls, built.metrics,
                    settings, fake, tmp_path, pool)


@pytest.fixture
async def reporter(database_settings: Any, reporter_settings: ReporterSettings,
                   fake_labelbox: FakeLabelbox, tmp_path: Path) -> AsyncIterator[Reporter]:
    pool = await create_pool(replace(database_settings, pool_size=30))
    built = reporter_on(pool, reporter_settings, fake_labelbox, tmp_path)
    yield built
    built.calls.close()
    await pool.close()


def sample_rows(run: str, count: int = 12) -> list[dict[str, Any]]:
    return text_classification_rows("model-1", run, count=count)
