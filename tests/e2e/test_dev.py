"""`trainbridge dev` (`make run` / `make demo`): the whole system without Docker. The demo
reaches COMPLETE at the fake Labelbox; Ctrl-C stops everything; a configuration error stops
everything with a clear message instead of restarting forever."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

from services.reporter.entrypoint import CONSUMERS as REPORTER_CONSUMERS
from tests.conftest import BrokerNamespace
from tests.ports import free_port
from tests.process_output import read_until


def dev_env(database_url: str, broker: BrokerNamespace, tmp_path: Path,
            **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LABELBOX_API_KEY", "TRAINBRIDGE_WEBHOOK_SECRET")}
    return {**env, "TRAINBRIDGE_DATABASE_URL": database_url,
            "TRAINBRIDGE_AMQP_URL": broker.settings.url,
            "TRAINBRIDGE_AMQP_NAMESPACE": broker.settings.namespace,
            "TRAINBRIDGE_ARTIFACTS_URL": str(tmp_path / "artifacts"),
            "TRAINBRIDGE_REPORTER_METRICS_PORT": "0", "TRAINBRIDGE_TRAINER_METRICS_PORT": "0",
            "TRAINBRIDGE_INGEST_METRICS_PORT": "0",
            **extra}


ONE_LINER = re.compile(r"\d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) +\S+ +\S+  \S")
"""A service's log line under ``dev``: time, level, service, model run (or ``-``), message."""


async def run_dev(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trainbridge", "dev", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)


async def test_the_demo_reaches_complete_at_the_fake_labelbox(
    database_url: str, broker: BrokerNamespace, tmp_path: Path,
) -> None:
    broker.consumers |= {"trainer", *REPORTER_CONSUMERS}
    env = dev_env(database_url, broker, tmp_path)
    process = await run_dev(env, "--demo", "--once", "--port", str(free_port()),
                            "--fake-port", str(free_port()))
    try:
        output = await read_until(process, "-> COMPLETE", timeout=150)
        assert await asyncio.wait_for(process.wait(), 60) == 0
        assert process.stdout is not None
        output += (await process.stdout.read()).decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert "Labelbox shows EXPORTING_DATA" in output
    assert "Labelbox shows TRAINING_MODEL" in output
    for prefix in ("ingest       |", "trainer      |", "reporter     |", "fake-labelbox|"):
        assert prefix in output, prefix
    # the services log readable lines under dev, not JSON: time, level, service, run, message
    assert re.search(r"trainer +\| \d\d:\d\d:\d\d\.\d{3} INFO +trainer +\S+  model_run-\S+: "
                     r"stage TRAINING_MODEL finished in \d+\.\ds", output), output[-3000:]
    services = [line.split("| ", 1)[1] for line in output.splitlines()
                if line.startswith(("ingest ", "trainer ", "reporter ", "fake-labelbox|"))]
    unreadable = [line for line in services if not ONE_LINER.match(line)]
    assert not unreadable, unreadable
    assert '{"ts": ' not in output
    # one progress line per change of state (stdout is a pipe), from the event log
    progress = re.findall(r"^progress +\| run (demo-\S+)  text_single_classification  "
                          r"([A-Z_]+)  (\d+\.\d)s$", output, re.MULTILINE)
    states = [state for _, state, _ in progress]
    assert len({run for run, _, _ in progress}) == 1, progress
    assert states[-1] == "COMPLETE" and states.count("COMPLETE") == 1, progress
    assert len(states) == len(set(states)) >= 2, progress
    assert len(output.splitlines()) < 100  # 156 lines before progress lines and quieter logs


async def test_ctrl_c_stops_every_service_cleanly(
    database_url: str, broker: BrokerNamespace, tmp_path: Path,
) -> None:
    broker.consumers |= {"trainer", *REPORTER_CONSUMERS}
    env = dev_env(database_url, broker, tmp_path, LABELBOX_API_KEY="key",
                  TRAINBRIDGE_WEBHOOK_SECRET="secret")
    process = await run_dev(env, "--port", str(free_port()))
    try:
        # every service up (uvicorn interrupted during its start-up would not shut down)
        await read_until(process, "Application startup complete.", "trainer: consuming",
                         "reporter: consuming", "reporter-acknowledge: consuming", timeout=60)
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 60) == 0
        assert process.stdout is not None
        rest = (await process.stdout.read()).decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    for name in ("trainer", "reporter"):
        assert f"stopped {name} (exit code 0)" in rest, rest[-2000:]
    # uvicorn finishes its graceful shutdown, then re-raises the SIGTERM it caught
    assert "Application shutdown complete." in rest
    assert ("stopped ingest (exit code 0)" in rest
            or "stopped ingest (exit code -15)" in rest), rest[-2000:]


async def test_a_configuration_error_stops_everything_with_its_message(
    database_url: str, broker: BrokerNamespace, tmp_path: Path,
) -> None:
    broker.consumers |= {"trainer", *REPORTER_CONSUMERS}
    env = dev_env(database_url, broker, tmp_path, TRAINBRIDGE_WEBHOOK_SECRET="secret")
    process = await run_dev(env, "--port", str(free_port()))
    try:
        output = await read_until(process, "configuration error; stopping", timeout=60)
        assert await asyncio.wait_for(process.wait(), 60) == 2
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert "LABELBOX_API_KEY (or LABELBOX_API_KEY_FILE) is required" in output


async def test_a_malformed_database_url_stops_dev_before_any_service_starts(
    broker: BrokerNamespace, tmp_path: Path,
) -> None:
    env = dev_env("mysql://app:db-pw-zz@db/x", broker, tmp_path)
    process = await run_dev(env, "--port", str(free_port()))
    output = (await asyncio.wait_for(process.communicate(), 60))[0].decode()

    assert process.returncode == 2
    assert ("configuration error: TRAINBRIDGE_DATABASE_URL=mysql://app:***@db/x: expected a "
            "postgresql://") in output
    assert "migrate exited with a configuration error; stopping" in output
    assert "db-pw-zz" not in output
