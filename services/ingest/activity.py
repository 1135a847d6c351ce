"""What ``POST /model_run`` did, told at INFO once a minute ("accepted 5,812 model runs in the
last 60 s") instead of in a line per request, which cost the webhook a log record, its
formatting and a write each time. Each request is still logged, at DEBUG."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

INTERVAL = 60.0
"""Seconds between two summaries (none when nothing happened)."""


class RunActivity:
    """Counts of the requests that appended an attempt and of the repeats that did not."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._since = clock()
        self.accepted = 0
        self.repeats = 0

    def summary(self) -> str | None:
        """The line for what happened since the last summary (``None``: nothing did), and
        start counting afresh."""
        now = self._clock()
        accepted, repeats, since = self.accepted, self.repeats, self._since
        self.accepted, self.repeats, self._since = 0, 0, now
        if not accepted and not repeats:
            return None
        line = f"accepted {accepted:,} model run(s) in the last {now - since:.0f} s"
        if repeats:
            line += f"; {repeats:,} repeat(s) for runs in progress or complete appended nothing"
        return line


async def log_activity(activity: RunActivity, stop: asyncio.Event,
                       interval: float = INTERVAL) -> None:
    """Log ``activity``'s summary every ``interval`` seconds, and once more at ``stop``."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
        line = activity.summary()
        if line is not None:
            logger.info(line)
