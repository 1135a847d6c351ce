"""Fetching data row content: inline text as is, URLs over HTTP with a timeout, a size
limit and bounded concurrency. A row that cannot be fetched fails the run with its id."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Literal

import httpx

from services.trainer.export_rows import RowRef
from services.trainer.pipeline import Example
from services.trainer.settings import FetchLimits

Media = Literal["text", "image"]


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


async def load_examples(
    refs: Sequence[RowRef], media: Media, client: httpx.AsyncClient, limits: FetchLimits
) -> list[Example]:
    """Examples in the order of ``refs``, at most ``limits.concurrency`` fetches at once."""
    slots = asyncio.Semaphore(limits.concurrency)

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
        value: str | bytes = content.decode("utf-8", "replace") if media == "text" else content
        return Example(ref.data_row_id, value, ref.annotations, ref.labelled, ref.split)

    return list(await asyncio.gather(*(load(ref) for ref in refs)))
