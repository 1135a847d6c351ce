"""`trainbridge ingest` as an operator runs it: an accepted request reaches RabbitMQ within
milliseconds through the relay in the same process, logs are JSON, SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time

import httpx

from eventlog.model_types import PostgresModelTypeCatalog
from eventlog.postgres import Database
from tests.conftest import BrokerNamespace
from tests.ingest.conftest import MODEL_TYPES, SECRET, body_of
from tests.integration.helpers import Probe
from tests.ports import free_port
from tests.signing import signed


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


async def start_ingest(
    database_url: str, broker: BrokerNamespace, port: int, metrics_port: int = 0,
    log_level: str = "INFO",
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trainbridge", "ingest", "--host", "127.0.0.1", "--port", str(port),
        "--metrics-port", str(metrics_port),
        env={**os.environ, "TRAINBRIDGE_DATABASE_URL": database_url,
             "TRAINBRIDGE_AMQP_URL": broker.settings.url,
             "TRAINBRIDGE_AMQP_NAMESPACE": broker.settings.namespace,
             "TRAINBRIDGE_WEBHOOK_SECRET": f"rotated-out,{SECRET}",
             "TRAINBRIDGE_RELAY_POLL_INTERVAL": "30", "TRAINBRIDGE_LOG_LEVEL": log_level},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )


async def test_an_accepted_request_reaches_rabbitmq_at_once_and_sigterm_stops_cleanly(
    database_url: str, broker: BrokerNamespace, database: Database,
) -> None:
    await PostgresModelTypeCatalog(database).announce("test", MODEL_TYPES)
    probe = Probe(broker)
    await probe.bind("TrainingRequested")
    port, metrics_port = free_port(), free_port()
    process = await start_ingest(database_url, broker, port, metrics_port, log_level="DEBUG")
    try:
        await wait_ready(f"http://127.0.0.1:{port}")
        body = body_of(modelType="bounding_box", modelRunId="proc-1")
        started = time.monotonic()
        async with httpx.AsyncClient() as http:
            response = await http.post(f"http://127.0.0.1:{port}/model_run", content=body,
                                       headers=signed(body, SECRET))
            (message,) = await probe.collect(1, timeout=5)
            latency = time.monotonic() - started
            metrics = await http.get(f"http://127.0.0.1:{metrics_port}/metrics")
            not_on_the_webhook_port = await http.get(f"http://127.0.0.1:{port}/metrics")
        process.send_signal(signal.SIGTERM)
        output = (await asyncio.wait_for(process.communicate(), 30))[0].decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert response.status_code == 202
    assert message.body["data"]["modelRunId"] == "proc-1"
    assert latency < 1.0, f"{latency:.3f}s: the relay was not woken by the commit"
    assert "trainbridge_ingest_events_appended_total 1.0" in metrics.text
    assert "trainbridge_relay_events_published_total" in metrics.text
    assert not_on_the_webhook_port.status_code == 404
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert lines and len(lines) == len(output.splitlines()), output
    accepted = [line for line in lines if "accepted attempt 1 of proc-1" in line["message"]]
    assert accepted and accepted[0]["model_run_id"] == "proc-1"
    assert accepted[0]["level"] == "DEBUG"  # at INFO, a summary a minute (and at the end):
    assert any(line["message"].startswith("accepted 1 model run(s) in the last")
               and line["level"] == "INFO" for line in lines), output
    assert SECRET not in output
    assert any("relay stopped" in line["message"] for line in lines), output


async def test_sigterm_lets_a_request_in_flight_finish(
    database_url: str, broker: BrokerNamespace, database: Database, sql: object,
) -> None:
    await PostgresModelTypeCatalog(database).announce("test", MODEL_TYPES)
    port = free_port()
    process = await start_ingest(database_url, broker, port)
    body = body_of(modelType="bounding_box", modelRunId="in-flight")
    head = (
        f"POST /model_run HTTP/1.1\r\nHost: ingest\r\nContent-Type: application/json\r\n"
        f"X-Hub-Signature: {signed(body, SECRET)['X-Hub-Signature']}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    try:
        await wait_ready(f"http://127.0.0.1:{port}")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head + body[:10])  # the request is in flight, its body half sent
        await writer.drain()
        await asyncio.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        writer.write(body[10:])
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        await asyncio.wait_for(process.wait(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert answer.startswith(b"HTTP/1.1 202"), answer
    stored = await sql.fetchval(  # type: ignore[attr-defined]
        "SELECT count(*) FROM events WHERE stream_id = 'model_run-in-flight'"
    )
    assert stored == 1


async def test_the_ingest_process_answers_an_oversized_body_with_a_413_the_client_reads(
    database_url: str, broker: BrokerNamespace, database: Database,
) -> None:
    """A 2 MiB body (the default limit is 1 MiB), sent whole before the answer is read."""
    from tests.ingest.test_oversized_body import request_head, send_everything_then_read

    body = body_of(modelType="bounding_box", modelRunId="big", pad="x" * (2 * 1024 * 1024))
    port = free_port()
    process = await start_ingest(database_url, broker, port)
    try:
        await wait_ready(f"http://127.0.0.1:{port}")
        answers = [await asyncio.to_thread(send_everything_then_read, port,
                                           request_head(body), body) for _ in range(20)]
    finally:
        process.kill()
        await process.wait()

    assert [a[:12] for a in answers] == [b"HTTP/1.1 413"] * 20
