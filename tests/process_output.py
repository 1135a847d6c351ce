"""Reading what a process a test started prints."""

from __future__ import annotations

import asyncio


async def read_until(process: asyncio.subprocess.Process, *texts: str, timeout: float) -> str:
    """The output up to the line where the last of ``texts`` has appeared (in any order)."""
    assert process.stdout is not None
    seen: list[str] = []
    waiting = set(texts)

    async def scan() -> None:
        while line := await process.stdout.readline():  # type: ignore[union-attr]
            seen.append(line.decode(errors="replace"))
            waiting.difference_update({t for t in waiting if t in seen[-1]})
            if not waiting:
                return
        raise AssertionError(f"{waiting!r} never appeared:\n{''.join(seen)[-3000:]}")

    await asyncio.wait_for(scan(), timeout)
    return "".join(seen)
