"""Fetching data row content: inline text as is, URLs over HTTP with a timeout, a size
limit and bounded concurrency. A row that cannot be fetched fails the run with its id. The
log follows a long fetch: rows fetched n/N every 10 % or every few seconds, whichever first."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Literal

import httpx

from services.trainer.export_rows import RowRef
from services.trainer.pipeline import Example
from services.trainer.settings import FetchLimits

Media = Literal["text", "image"]
logger = logging.getLogger(__name__)


class FetchError(RuntimeError):
    pass


async def fetch_bytes(client: httpx.AsyncClient, url: str, limits: FetchLimits) -> bytes:
    if not url.startswith(("http://", "https://")):
        raise FetchError(f"{url}: only http(s) URLs can be fetched")
    try:
        async with client.stream("GET", url, timeout=limits.timeout) as response:
            if response.status_code != 200:
                raise FetchError(f"{url}: HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limits.max_bytes:
                raise FetchError(f"{url}: {declared} bytes is over the {limits.max_bytes} limit")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limits.max_bytes:
                    raise FetchError(f"{url}: over the {limits.max_bytes} byte limit")
            return bytes(body)
    except httpx.TimeoutException:
        raise FetchError(f"{url}: no answer within {limits.timeout}s") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None


class FetchProgress:
    """Logs "rows fetched n/N" once 10 % more rows have arrived or ``every`` seconds have
    passed since the last line (whichever comes first), and the last row with the time the
    whole fetch took."""

    def __init__(self, total: int, *, every: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._total = total
        self._step = max(1, total // 10)
        self._every = every
        self._clock = clock
        self._started = self._logged_at = clock()
        self._fetched = self._logged = 0
        logger.info("fetching %d rows", total)

    def fetched(self) -> None:
        self._fetched += 1
        now = self._clock()
        if self._fetched == self._total:
            logger.info("rows fetched %d/%d in %.1fs", self._fetched, self._total,
                        now - self._started)
        elif (self._fetched - self._logged >= self._step
              or now - self._logged_at >= self._every):
            logger.info("rows fetched %d/%d (%.1fs)", self._fetched, self._total,
                        now - self._started)
        else:
            return
        self._logged, self._logged_at = self._fetched, now


async def load_examples(
    refs: Sequence[RowRef], media: Media, client: httpx.AsyncClient, limits: FetchLimits,
    clock: Callable[[], float] = time.monotonic,
) -> list[Example]:
    """Examples in the order of ``refs``, at most ``limits.concurrency`` fetches at once."""
    slots = asyncio.Semaphore(limits.concurrency)
    to_fetch = sum(1 for ref in refs if ref.is_url)
    progress = FetchProgress(to_fetch, clock=clock) if to_fetch else None

    async def load(ref: RowRef) -> Example:
        if not ref.is_url:
            if media == "image":
                raise FetchError(f"data row {ref.data_row_id}: an image row needs a URL")
            return Example(ref.data_row_id, ref.row_data, ref.annotations, ref.labelled,
                           ref.split)
        async with slots:
            try:
                content = await fetch_bytes(client, ref.row_data, limits)
            except FetchError as exc:
                raise FetchError(f"data row {ref.data_row_id}: {exc}") from None
        if progress:
            progress.fetched()
        value: str | bytes = content.decode("utf-8", "replace") if media == "text" else content
        return Example(ref.data_row_id, value, ref.annotations, ref.labelled, ref.split)

    return list(await asyncio.gather(*(load(ref) for ref in refs)))
