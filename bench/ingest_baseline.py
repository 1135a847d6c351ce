"""The baseline of bench/ingest.py (not a test, not part of Trainbridge): the least a durable
webhook receiver on ingest's stack does, served the way `trainbridge ingest` is served.

- Litestar under uvicorn (same versions, same server settings, no access log);
- `POST /model_run`: the HMAC-SHA1 of the raw body checked in constant time, the body parsed
  (msgspec), then one statement — one transaction, one round trip — that inserts the event
  (the body as jsonb, one row per model run: a repeat is a 200 that inserts nothing) and its
  outbox row;
- a relay in the same process, woken by each commit (a short poll as the fallback): claims up
  to 500 outbox rows (`FOR UPDATE SKIP LOCKED`), publishes them to the namespace's topic
  exchange as persistent, mandatory messages with publisher confirms (256 in flight), marks
  them published in the claim's transaction.

It creates its own two tables in the (fresh, empty) database it is given.

    python bench/ingest_baseline.py --port 8001 --database-url postgresql://... \
        --amqp-url amqp://... --namespace bench-ingest-base --secret s3cret
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import asyncpg
import msgspec
import uvicorn
from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import State

BATCH = 500
CONFIRM_WINDOW = 256
POLL_SECONDS = 0.05

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id text NOT NULL UNIQUE,
    event_id uuid NOT NULL UNIQUE,
    event_type text NOT NULL,
    data jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS outbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    global_position bigint NOT NULL REFERENCES events,
    published_at timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (id) WHERE published_at IS NULL;
"""

_APPEND = """
WITH event AS (
    INSERT INTO events (stream_id, event_id, event_type, data)
    VALUES ($1, $2, 'TrainingRequested', $3::jsonb)
    ON CONFLICT (stream_id) DO NOTHING
    RETURNING global_position
)
INSERT INTO outbox (global_position) SELECT global_position FROM event
RETURNING global_position
"""

_CLAIM = """
SELECT o.id, e.event_id, e.event_type, e.data::text AS data
FROM outbox o JOIN events e USING (global_position)
WHERE o.published_at IS NULL
ORDER BY o.id
LIMIT $1
FOR UPDATE OF o SKIP LOCKED
"""

_MARK = "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])"


class Relay:
    def __init__(self, pool: asyncpg.Pool, amqp_url: str, exchange_name: str) -> None:
        self.pool = pool
        self.amqp_url = amqp_url
        self.exchange_name = exchange_name
        self.wakeup = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        connection = await aio_pika.connect(self.amqp_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await channel.declare_exchange(
                self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
            while not stop.is_set():
                self.wakeup.clear()
                if await self.publish_pending(exchange) < BATCH:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wakeup.wait(), POLL_SECONDS)

    async def publish_pending(self, exchange: aio_pika.abc.AbstractExchange) -> int:
        async with self.pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(_CLAIM, BATCH)
            if not rows:
                return 0
            window = asyncio.Semaphore(CONFIRM_WINDOW)

            async def publish(row: asyncpg.Record) -> None:
                async with window:
                    await exchange.publish(
                        aio_pika.Message(
                            row["data"].encode(), content_type="application/json",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                            message_id=str(row["event_id"]), type=row["event_type"]),
                        routing_key=row["event_type"], mandatory=True)

            await asyncio.gather(*(publish(row) for row in rows))
            await connection.execute(_MARK, [row["id"] for row in rows])
        return len(rows)


@post("/model_run", status_code=202)
async def model_run(request: Request[Any, Any, Any]) -> Response[Any]:
    state = request.app.state
    body = await request.body()
    expected = b"sha1=" + hmac.new(state.secret, body, "sha1").hexdigest().encode()
    if not hmac.compare_digest(expected, request.headers.get("x-hub-signature", "").encode()):
        return Response({"error": "unauthorized"}, status_code=401)
    try:
        payload = msgspec.json.decode(body)
        run_id = payload["modelRunId"]
    except (msgspec.DecodeError, TypeError, KeyError):
        return Response({"error": "bad_request"}, status_code=400)
    event_id = uuid.uuid4()
    position = await state.pool.fetchval(_APPEND, f"model_run-{run_id}", event_id, body.decode())
    if position is None:
        return Response({"modelRunId": run_id, "status": "in_progress"}, status_code=200)
    state.relay.wakeup.set()
    return Response({"modelRunId": run_id, "status": "accepted", "eventId": str(event_id)},
                     status_code=202)


@get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_app(args: argparse.Namespace) -> Litestar:
    state = State({"secret": args.secret.encode()})

    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(args.database_url, min_size=0, max_size=args.pool_size)
        await pool.execute(_SCHEMA)
        relay = Relay(pool, args.amqp_url, f"{args.namespace}.events")
        state.pool, state.relay = pool, relay
        stop = asyncio.Event()
        relaying = asyncio.create_task(relay.run(stop))
        try:
            yield
        finally:
            stop.set()
            await relaying
            await pool.close()

    return Litestar(route_handlers=[model_run, healthz], state=state, lifespan=[lifespan],
                    debug=False, logging_config=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--amqp-url", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--pool-size", type=int, default=10, help="as ingest's default")
    args = parser.parse_args()
    uvicorn.Server(uvicorn.Config(create_app(args), host=args.host, port=args.port,
                                  log_config=None, access_log=False,
                                  timeout_graceful_shutdown=30)).run()


if __name__ == "__main__":
    main()
