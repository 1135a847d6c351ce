"""An oversized body gets its 413, read by the client every time: the server drains what the
client is still sending before it closes (a "lingering close", as nginx and Apache do), so
the close never turns into a reset that discards the answer."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn

from eventlog.memory import InMemoryEventStore
from eventlog.model_types import InMemoryModelTypeCatalog
from services.ingest.bootstrap import IngestAdapters, wire_ingest
from services.ingest.settings import IngestSettings
from tests.ingest.conftest import MODEL_TYPES, SECRET
from tests.ports import free_port
from tests.signing import signed

LIMIT = 64 * 1024
BODY = b'{"modelType": "bounding_box", "modelRunId": "big", "pad": "' + b"x" * (2 * 1024 * 1024) \
    + b'"}'


@pytest.fixture
async def ingest_port() -> AsyncIterator[int]:
    """The webhook served by uvicorn as `trainbridge ingest` serves it."""
    adapters = IngestAdapters(InMemoryEventStore(), InMemoryModelTypeCatalog(MODEL_TYPES))
    ingest = wire_ingest(IngestSettings(secrets=(SECRET,), max_body_bytes=LIMIT), adapters)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        ingest.app(),  # type: ignore[arg-type]
        host="127.0.0.1", port=port, log_config=None, access_log=False))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event
        await asyncio.sleep(0.01)
    yield port
    server.should_exit = True
    await task


def send_everything_then_read(port: int, head: bytes, body: bytes) -> bytes:
    """A client that sends its whole request before it reads a byte of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(head + body)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
        return answer


def request_head(body: bytes, *, chunked: bool = False) -> bytes:
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}"
    return (f"POST /model_run HTTP/1.1\r\nHost: ingest\r\nContent-Type: application/json\r\n"
            f"X-Hub-Signature: {signed(body, SECRET)['X-Hub-Signature']}\r\n"
            f"{length}\r\n\r\n").encode()


def chunks(body: bytes, size: int = 32 * 1024) -> bytes:
    parts = [body[i:i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


async def test_a_declared_oversized_body_gets_its_413_twenty_times_in_a_row(
    ingest_port: int,
) -> None:
    for attempt in range(20):
        answer = await asyncio.to_thread(send_everything_then_read, ingest_port,
                                         request_head(BODY), BODY)
        assert answer.startswith(b"HTTP/1.1 413"), (attempt, answer[:200])
        assert b"payload_too_large" in answer


async def test_a_chunked_oversized_body_gets_its_413_twenty_times_in_a_row(
    ingest_port: int,
) -> None:
    for attempt in range(20):
        answer = await asyncio.to_thread(send_everything_then_read, ingest_port,
                                         request_head(BODY, chunked=True), chunks(BODY))
        assert answer.startswith(b"HTTP/1.1 413"), (attempt, answer[:200])
