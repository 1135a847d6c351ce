"""`trainbridge ingest` as an operator runs it: an accepted request reaches RabbitMQ within
milliseconds through the relay in the same process, logs are JSON, SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time

import httpx

from eventlog.model_types import PostgresModelTypeCatalog
from tests.conftest import BrokerNamespace
from tests.ingest.conftest import MODEL_TYPES, SECRET, body_of
from tests.integration.helpers import Probe
from tests.signing import signed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def wait_ready(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get(url + "/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("ingest never became ready")


async def test_an_accepted_request_reaches_rabbitmq_at_once_and_sigterm_stops_cleanly(
    database_url: str, broker: BrokerNamespace, pool: object,
) -> None:
    await PostgresModelTypeCatalog(pool).announce("test", MODEL_TYPES)  # type: ignore[arg-type]
    probe = Probe(broker)
    await probe.bind("TrainingRequested")
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trainbridge", "ingest", "--host", "127.0.0.1", "--port", str(port),
        env={**os.environ, "TRAINBRIDGE_DATABASE_URL": database_url,
             "TRAINBRIDGE_AMQP_URL": broker.settings.url,
             "TRAINBRIDGE_AMQP_NAMESPACE": broker.settings.namespace,
             "TRAINBRIDGE_WEBHOOK_SECRET": f"rotated-out,{SECRET}",
             "TRAINBRIDGE_RELAY_POLL_INTERVAL": "30"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        await wait_ready(f"http://127.0.0.1:{port}")
        body = body_of(modelType="bounding_box", modelRunId="proc-1")
        started = time.monotonic()
        async with httpx.AsyncClient() as http:
            response = await http.post(f"http://127.0.0.1:{port}/model_run", content=body,
                                       headers=signed(body, SECRET))
        (message,) = await probe.collect(1, timeout=5)
        latency = time.monotonic() - started
        process.send_signal(signal.SIGTERM)
        output = (await asyncio.wait_for(process.communicate(), 30))[0].decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert response.status_code == 202
    assert message.body["data"]["modelRunId"] == "proc-1"
    assert latency < 1.0, f"{latency:.3f}s: the relay was not woken by the commit"
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert lines and len(lines) == len(output.splitlines()), output
    accepted = [line for line in lines if "accepted attempt 1 of proc-1" in line["message"]]
    assert accepted and accepted[0]["model_run_id"] == "proc-1"
    assert SECRET not in output
    assert any("relay stopped" in line["message"] for line in lines), output
