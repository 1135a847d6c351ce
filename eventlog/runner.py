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


async def run_together(stop: asyncio.Event, *parts: Awaitable[None]) -> None:
    """Run a service's parts (each returns once ``stop`` is set) until all have returned.
    When one fails (a broker that refuses us, say), ``stop`` is set so the others finish
    their work cleanly, and its error is raised once they have."""
    tasks = [asyncio.ensure_future(part) for part in parts]

    def stop_all_on_failure(task: asyncio.Future[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            stop.set()

    for task in tasks:
        task.add_done_callback(stop_all_on_failure)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
