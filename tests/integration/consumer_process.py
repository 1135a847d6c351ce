"""A consumer process for the shutdown test: settings from the environment, a handler that
takes a while, and the same signal handling the services use."""

from __future__ import annotations

import asyncio
import sys

from eventlog import NewEvent, RecordedEvent, UnitOfWork
from eventlog.consumer import EventConsumer, Subscription
from eventlog.postgres import PostgresEventStore, create_pool
from eventlog.runner import run_until_signalled
from eventlog.settings import BrokerSettings, DatabaseSettings

HANDLER_SECONDS = 1.5


async def slow_handler(uow: UnitOfWork, event: RecordedEvent) -> None:
    print(f"handler started {event.event_id}", flush=True)
    await asyncio.sleep(HANDLER_SECONDS)
    await uow.append(event.stream_id, [NewEvent("Handled", {"of": str(event.event_id)})])
    print(f"handler finished {event.event_id}", flush=True)


async def main() -> None:
    pool = await create_pool(DatabaseSettings.from_env())
    consumer = EventConsumer(
        PostgresEventStore(pool),
        BrokerSettings.from_env(),
        Subscription("worker", ("Work",), slow_handler),
    )

    async def announce() -> None:
        await consumer.consuming.wait()
        print("consuming", flush=True)

    announcer = asyncio.create_task(announce())
    await run_until_signalled(consumer.run)
    announcer.cancel()
    await pool.close()
    print("stopped cleanly", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
