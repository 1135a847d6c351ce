"""A refusal the client reads: before answering ``413`` to a body it has not read, the server
reads (and discards) what the client is still sending, up to a bound, then answers with
``Connection: close``. Closing with unread data makes the kernel send a reset, and a client
that sends its whole body before reading (most do) then gets the reset instead of the 413:
the "lingering close" nginx and Apache do."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]

DRAIN_MAX_BYTES = 64 * 1024 * 1024
"""Read at most this much of a refused body; a client sending more gets the reset."""
DRAIN_MAX_SECONDS = 10.0
"""...and for at most this long (a client trickling its body holds no slot for longer)."""


def lingering_refusals(app: ASGIApp, *, max_bytes: int = DRAIN_MAX_BYTES,
                       max_seconds: float = DRAIN_MAX_SECONDS) -> ASGIApp:
    async def wrapped(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        body_read = False

        async def tracked() -> Message:
            nonlocal body_read
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_read = True
            return message

        async def drained_first(message: Message) -> None:
            if (message["type"] == "http.response.start" and message["status"] == 413
                    and not body_read):
                await _drain(tracked, max_bytes, max_seconds)
                message = {**message, "headers": [*message.get("headers", []),
                                                   (b"connection", b"close")]}
            await send(message)

        await app(scope, tracked, drained_first)

    return wrapped


async def _drain(receive: Receive, max_bytes: int, max_seconds: float) -> None:
    drained = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max_seconds):
            while drained <= max_bytes:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                drained += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return
