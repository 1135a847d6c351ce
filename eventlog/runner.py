"""Run a long-lived service until SIGTERM or SIGINT, then let it stop cleanly."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable


async def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Call ``main(stop)``; the first SIGTERM/SIGINT sets ``stop`` and ``main`` is expected
    to finish its in-flight work and return. A second signal stops waiting for it."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    task = asyncio.ensure_future(main(stop))

    def on_signal() -> None:
        if stop.is_set():
            task.cancel()
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal)
    try:
        await task
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
