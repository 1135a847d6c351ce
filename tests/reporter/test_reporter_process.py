"""`trainbridge reporter` as an operator runs it: woken by RabbitMQ messages, it delivers
runs to the fake Labelbox through the real SDK; SIGKILLed while creating an import, the
restarted reporter finds that import instead of creating a second; SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx

from services.reporter.entrypoint import CONSUMERS as REPORTER_CONSUMERS
from tests.conftest import BrokerNamespace
from tests.fake_labelbox import FakeLabelbox
from tests.integration.helpers import Probe, eventually
from tests.ports import free_port
from tests.process_output import read_until
from tests.reporter import events as ev
from tests.reporter.conftest import Reporter, sample_rows
from tests.reporter.test_reporting import imports_created

RUNS = ["run-1", "run-2", "run-3"]



async def start_reporter(env: Mapping[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trainbridge", "reporter", env=dict(env),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )


async def output_of(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    return (await process.stdout.read()).decode(errors="replace")


def reporter_env(database_url: str, broker: BrokerNamespace, fake_labelbox: FakeLabelbox,
                 tmp_path: Path, **settings: str) -> dict[str, str]:
    return {**os.environ, "TRAINBRIDGE_DATABASE_URL": database_url,
            "TRAINBRIDGE_AMQP_URL": broker.settings.url,
            "TRAINBRIDGE_AMQP_NAMESPACE": broker.settings.namespace,
            "TRAINBRIDGE_ARTIFACTS_URL": str(tmp_path / "artifacts"),
            "TRAINBRIDGE_RELAY_POLL_INTERVAL": "0.2",
            "LABELBOX_API_KEY": fake_labelbox.api_key or "any-key",
            "TRAINBRIDGE_LABELBOX_ENDPOINT": fake_labelbox.endpoint,
            "TRAINBRIDGE_LABELBOX_TIMEOUT_SECONDS": "3",
            "TRAINBRIDGE_LABELBOX_BACKOFF_SECONDS": "0.05",
            "TRAINBRIDGE_EXPORT_POLL_SECONDS": "0.05",
            "TRAINBRIDGE_IMPORT_POLL_SECONDS": "0.05",
            "TRAINBRIDGE_REPORTER_METRICS_PORT": "0",
            **settings}


async def test_the_reporter_process_delivers_runs_and_survives_sigkill_mid_import(
    database_url: str, broker: BrokerNamespace, reporter: Reporter,
    fake_labelbox: FakeLabelbox, tmp_path: Path,
) -> None:
    broker.consumers.update(REPORTER_CONSUMERS)
    await Probe(broker, "trainer-stand-in").bind("#")  # the trainer's queue stands in
    control = fake_labelbox.control
    for run in RUNS:
        control.add_model_run(run, data_rows=sample_rows(run, 8))
    metrics_port = free_port()
    env = reporter_env(database_url, broker, fake_labelbox, tmp_path,
                       TRAINBRIDGE_REPORTER_SWEEP_SECONDS="1",
                       TRAINBRIDGE_REPORTER_METRICS_PORT=str(metrics_port))
    first = await start_reporter(env)
    second: asyncio.subprocess.Process | None = None
    try:
        for run in RUNS:
            await reporter.request_training(run)

        async def exported() -> bool:
            for run in RUNS:
                events = await reporter.store.read_stream(f"model_run-{run}")
                if not any(e.event_type == "DataExported" for e in events):
                    return False
            return True

        await eventually(exported, 60)
        assert all(control.statuses(run) == ["EXPORTING_DATA"] for run in RUNS)

        # run-1's import is created at Labelbox but its answer never arrives: kill -9 then.
        hang = control.add_fault("createMEAPredictionImportByFilePyApi", model_run_id="run-1",
                                 hang=True, after_effect=True, times=1)
        for run in RUNS:
            await reporter.train(run)

        async def import_created() -> bool:
            return bool(control.imports("run-1"))

        await eventually(import_created, 60)
        first.kill()
        await first.wait()

        second = await start_reporter(env)

        async def all_complete() -> bool:
            return all(control.statuses(run)[-1:] == ["COMPLETE"] for run in RUNS)

        await eventually(all_complete, 60)
        for run in RUNS:
            assert len(control.imports(run)) == 1, run
            assert imports_created(control, run, [hang]) == 1, run

        async with httpx.AsyncClient() as http:
            page = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        assert 'trainbridge_reporter_labelbox_calls_total{action="predictions"' in page
        assert "trainbridge_reporter_reconcile_lag_seconds_bucket" in page

        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 30) == 0
        logs = await output_of(second)
        assert (fake_labelbox.api_key or "any-key") not in logs
        assert '"model_run_id": "run-1"' in logs
    finally:
        for process in (first, second):
            if process is not None and process.returncode is None:
                process.kill()
                await process.wait()


async def test_a_training_request_alone_is_acknowledged_and_nothing_more(
    database_url: str, broker: BrokerNamespace, reporter: Reporter,
    fake_labelbox: FakeLabelbox, tmp_path: Path,
) -> None:
    """The acknowledgement lane: ``TrainingRequested`` wakes it (no trainer runs here and
    the sweeper is an hour away), it sends EXPORTING_DATA and leaves the export to the
    trainer's ``DataExportRequested``, which wakes the main lane."""
    broker.consumers.update(REPORTER_CONSUMERS)
    control = fake_labelbox.control
    control.add_model_run("run-ack", data_rows=sample_rows("run-ack", 8))
    metrics_port = free_port()
    process = await start_reporter(reporter_env(
        database_url, broker, fake_labelbox, tmp_path,
        TRAINBRIDGE_LOG_LEVEL="INFO", TRAINBRIDGE_REPORTER_SWEEP_SECONDS="3600",
        TRAINBRIDGE_REPORTER_METRICS_PORT=str(metrics_port)))
    try:
        await read_until(process, *(f"{broker.settings.namespace}.{queue}: consuming"
                                    for queue in REPORTER_CONSUMERS), timeout=30)
        await reporter.append("run-ack", ev.requested("run-ack"))

        async def acknowledged() -> bool:
            return control.statuses("run-ack") == ["EXPORTING_DATA"]

        await eventually(acknowledged, 30)
        await asyncio.sleep(0.5)
        assert control.operations("run-ack") == ["setPipelineStatusPyApi"]
        async with httpx.AsyncClient() as http:
            page = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        assert "trainbridge_reporter_acknowledgement_lag_seconds_count 1.0" in page
        assert "trainbridge_reporter_acknowledgements_pending 0.0" in page

        await reporter.append("run-ack", ev.export_requested("run-ack"))

        async def exported() -> bool:
            events = await reporter.store.read_stream("model_run-run-ack")
            return any(e.event_type == "DataExported" for e in events)

        await eventually(exported, 30)
        assert control.statuses("run-ack") == ["EXPORTING_DATA"]
    finally:
        process.kill()
        await process.wait()
