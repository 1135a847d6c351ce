from __future__ import annotations

import asyncio

from eventlog.keyed_locks import KeyedLocks


async def test_one_key_is_held_by_one_task_at_a_time_and_others_run_freely() -> None:
    locks = KeyedLocks()
    trace: list[str] = []

    async def work(key: str, name: str) -> None:
        async with locks.hold(key):
            trace.append(f"{name}+")
            await asyncio.sleep(0.01)
            trace.append(f"{name}-")

    await asyncio.gather(work("a", "a1"), work("a", "a2"), work("b", "b1"))

    assert trace.index("a1-") < trace.index("a2+")
    assert trace.index("b1+") < trace.index("a1-")  # a different key did not wait
    assert len(locks) == 0  # forgotten once nobody holds or waits
