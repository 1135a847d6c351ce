"""Ingest benchmark (not a test): `trainbridge ingest` against a minimal durable receiver.

Two servers run side by side as processes, each with a fresh database of its own (created at
the start, dropped at the end) and broker names of its own (a namespace per side; its topic
exchange and one quorum queue bound to every routing key, deleted at the end):

- baseline: bench/ingest_baseline.py, the least a durable receiver on the same stack does
  (Litestar under uvicorn, asyncpg: the HMAC check, the event and its outbox row in one
  statement, and a relay in the process publishing with publisher confirms);
- ingest: `trainbridge ingest` as deployed (its relay in the process, default settings, log
  level INFO; /metrics off so that several runs can share a host), the model type announced
  in its database as a trainer would; no trainer or reporter runs.

wrk (Debian package `wrk`) loads them in alternating rounds (baseline, ingest, baseline, ...;
after a warm-up of each) with --connections connections on --threads threads for --seconds,
each request a signed `POST /model_run` for a model run of its own (bench/ingest_wrk.lua
sends pre-signed bodies from a file). After each round the side's relay must empty its outbox
before the next round starts (the time it took is printed) and the queue is purged. Printed
per round and as the median of the rounds: requests/s, latency p50 and p99 (wrk's, per
request), the CPU the server process used per request (HTTP, database client and relay,
until the relay had published every event of the round) and what its PostgreSQL connections
used per request; then the ratios ingest / baseline against the targets (>= 0.90x
requests/s, p99 <= 1.5x). The machine's other work shows in the absolute figures: compare
the ratios.

Uses TRAINBRIDGE_TEST_DATABASE_URL (else TRAINBRIDGE_DATABASE_URL, else localhost) and
TRAINBRIDGE_TEST_AMQP_URL (else TRAINBRIDGE_AMQP_URL, else localhost); the database user must
be allowed to CREATE DATABASE. Ctrl-C (once) or SIGTERM stops everything and cleans up.

    .venv/bin/python bench/ingest.py [--seconds 10] [--rounds 3] [--connections 32]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/eventlog.py is named like the package: keep this folder off the import path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.append(str(_HERE.parent))  # the repository, for bench.support

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import tempfile
import time
from dataclasses import dataclass, field

import aio_pika
import asyncpg
import httpx

from bench.support import amqp_url, database_url, free_port
from eventlog.migrate import upgrade
from eventlog.model_types import ModelType, PostgresModelTypeCatalog
from eventlog.postgres import Database
from eventlog.topology import Topology
from fake_labelbox.demo_client import model_run_body, signature

SECRET = "bench-secret"
MODEL_TYPE = "text_single_classification"
MODEL_ID = "model-1"
TARGET_RATE_RATIO, TARGET_P99_RATIO = 0.90, 1.5
TICKS = os.sysconf("SC_CLK_TCK")
_BACKLOG = "SELECT count(*) FROM outbox WHERE published_at IS NULL"  # both schemas have it


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far, from /proc (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


# -- the two sides -------------------------------------------------------------------------

@dataclass
class Round:
    rate: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms: float
    """CPU of the server process per request, until the relay had published every event."""
    postgres_cpu_ms: float
    """CPU of the side's PostgreSQL connections per request, likewise."""
    backlog: int
    """Events still in the outbox when the load stopped."""
    drain_s: float
    """Time the relay took to empty the outbox after the load stopped."""
    answers: dict[str, int]
    wrapped: int
    socket_errors: int


@dataclass
class Side:
    name: str
    db_name: str
    namespace: str
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None
    log: Path | None = None
    db_created: bool = False
    pool: asyncpg.Pool | None = None
    rounds: list[Round] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def topology(self) -> Topology:
        return Topology(self.namespace)

    def command(self) -> list[str]:
        if self.name == "baseline":
            return [sys.executable, str(_HERE / "ingest_baseline.py"), "--port", str(self.port),
                    "--database-url", database_url(self.db_name), "--amqp-url", amqp_url(),
                    "--namespace", self.namespace, "--secret", SECRET]
        return [sys.executable, "-m", "trainbridge", "ingest", "--host", "127.0.0.1",
                "--port", str(self.port)]

    def environment(self) -> dict[str, str]:
        return {**os.environ, "TRAINBRIDGE_DATABASE_URL": database_url(self.db_name),
                "TRAINBRIDGE_AMQP_URL": amqp_url(), "TRAINBRIDGE_AMQP_NAMESPACE": self.namespace,
                "TRAINBRIDGE_WEBHOOK_SECRET": SECRET, "TRAINBRIDGE_INGEST_METRICS_PORT": "0"}

    async def postgres_pids(self) -> list[int]:
        assert self.pool is not None
        rows = await self.pool.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            self.db_name)
        return [r["pid"] for r in rows]


class Bench:
    """Everything the benchmark started, so that cleanup can undo exactly that."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="tb-bench-ingest-"))
        tag = f"{os.getpid()}"
        self.sides = [Side("baseline", f"tb_bench_ingest_{tag}_base", f"bench-ingest-{tag}-base"),
                      Side("ingest", f"tb_bench_ingest_{tag}", f"bench-ingest-{tag}")]
        self.batches = 0

    async def start(self) -> None:
        admin = await asyncpg.connect(database_url("postgres"))
        try:
            for side in self.sides:
                await admin.execute(f'CREATE DATABASE "{side.db_name}"')
                side.db_created = True
        finally:
            await admin.close()
        ingest = self.sides[1]
        await asyncio.to_thread(upgrade, database_url(ingest.db_name))
        for side in self.sides:
            side.pool = await asyncpg.create_pool(database_url(side.db_name), min_size=1,
                                                  max_size=2)
        assert ingest.pool is not None
        await PostgresModelTypeCatalog(Database(ingest.pool)).announce(
            "bench", [ModelType(MODEL_TYPE, "announced by bench/ingest.py")])
        await self._declare_broker_objects()
        for side in self.sides:
            side.log = self.tmp / f"{side.name}.log"
            with side.log.open("wb") as log:
                side.process = await asyncio.create_subprocess_exec(
                    *side.command(), env=side.environment(), stdin=asyncio.subprocess.DEVNULL,
                    stdout=log, stderr=log, start_new_session=True)
        for side in self.sides:
            await self._wait_ready(side, 60)

    async def _declare_broker_objects(self) -> None:
        connection = await aio_pika.connect(amqp_url())
        async with connection:
            channel = await connection.channel()
            for side in self.sides:
                exchange = await channel.declare_exchange(
                    side.topology.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True)
                queue = await channel.declare_queue(
                    side.topology.queue("sink"), durable=True,
                    arguments={"x-queue-type": "quorum"})
                await queue.bind(exchange, routing_key="#")

    async def _wait_ready(self, side: Side, timeout: float) -> None:
        path = "/healthz" if side.name == "baseline" else "/readyz"
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                assert side.process is not None
                if side.process.returncode is not None:
                    raise SystemExit(f"{side.name} exited ({side.process.returncode}):\n"
                                     + self.tail(side))
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(side.url + path)).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise SystemExit(f"{side.name} not ready within {timeout:g}s:\n"
                                     + self.tail(side))
                await asyncio.sleep(0.2)

    def tail(self, side: Side) -> str:
        if side.log is None or not side.log.exists():
            return ""
        return "\n".join(side.log.read_text(errors="replace").splitlines()[-20:])

    # -- one round ---------------------------------------------------------------------

    def write_requests(self, tag: str, count: int) -> Path:
        """``count`` signed requests, each for a model run of its own."""
        self.batches += 1
        path = self.tmp / f"requests-{self.batches}.txt"
        with path.open("w") as f:
            for n in range(count):
                body = model_run_body(f"bench-{os.getpid()}-{tag}-{n}", MODEL_TYPE, MODEL_ID)
                f.write(f"{signature(SECRET, body)} {body.decode()}\n")
        return path

    async def load(self, side: Side, seconds: float, tag: str) -> Round:
        args = self.args
        requests = self.write_requests(tag, max(1000, int(args.max_rate * seconds)))
        assert side.process is not None
        pids = await side.postgres_pids()
        before = [cpu_seconds(side.process.pid), *map(cpu_seconds, pids)]
        wrk = await asyncio.create_subprocess_exec(
            args.wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds:g}s",
            "--timeout", "10s", "-s", str(_HERE / "ingest_wrk.lua"), side.url,
            "--", str(requests), str(args.threads),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await wrk.communicate()
        requests.unlink()
        lines = [ln for ln in out.decode().splitlines() if ln.startswith("RESULT ")]
        if wrk.returncode != 0 or not lines:
            raise SystemExit(f"wrk failed ({wrk.returncode}): {err.decode()}{out.decode()}")
        result = json.loads(lines[-1].removeprefix("RESULT "))
        backlog, drain = await self._drain(side)
        # The CPU counted is what the requests cost until their events were published.
        pids_after = await side.postgres_pids()
        server_cpu = cpu_seconds(side.process.pid) - before[0]
        postgres_cpu = sum(cpu_seconds(pid) for pid in pids_after) - sum(
            b for pid, b in zip(pids, before[1:], strict=True) if pid in pids_after)
        count = max(1, result["requests"])
        return Round(
            rate=result["requests"] / (result["duration_us"] / 1e6),
            p50_ms=result["p50_us"] / 1000, p99_ms=result["p99_us"] / 1000,
            server_cpu_ms=server_cpu * 1000 / count,
            postgres_cpu_ms=postgres_cpu * 1000 / count,
            backlog=backlog, drain_s=drain, answers=result["answers"],
            wrapped=result["wrapped"], socket_errors=result["socket_errors"],
        )

    async def _drain(self, side: Side, timeout: float = 120) -> tuple[int, float]:
        """Wait until the side's relay has published everything; then purge its queue."""
        assert side.pool is not None
        started = time.monotonic()
        backlog_at_end = await side.pool.fetchval(_BACKLOG)
        while await side.pool.fetchval(_BACKLOG):
            if time.monotonic() - started > timeout:
                raise SystemExit(f"{side.name}'s relay did not empty its outbox in {timeout}s:"
                                 f"\n{self.tail(side)}")
            await asyncio.sleep(0.05)
        drained = time.monotonic() - started
        connection = await aio_pika.connect(amqp_url())
        async with connection:
            channel = await connection.channel()
            queue = await channel.get_queue(side.topology.queue("sink"))
            await queue.purge()
        return backlog_at_end, drained

    # -- cleanup -------------------------------------------------------------------------

    async def cleanup(self) -> None:
        """Undo whatever was started, each step on its own so one failure skips nothing."""
        for step in (self._stop_servers, self._drop_databases, self._delete_broker_objects):
            try:
                await step()
            except BaseException as exc:  # keep cleaning up regardless
                print(f"cleanup: {step.__name__}: {type(exc).__name__}: {exc}", file=sys.stderr)
        shutil.rmtree(self.tmp, ignore_errors=True)

    async def _stop_servers(self) -> None:
        for side in self.sides:
            if side.process is not None and side.process.returncode is None:
                side.process.terminate()
        for side in self.sides:
            if side.process is not None:
                try:
                    await asyncio.wait_for(side.process.wait(), 30)
                except TimeoutError:
                    side.process.kill()
                    await side.process.wait()

    async def _drop_databases(self) -> None:
        for side in self.sides:
            if side.pool is not None:
                await side.pool.close()
        admin = await asyncpg.connect(database_url("postgres"))
        try:
            for side in self.sides:
                if side.db_created:
                    await admin.execute(f'DROP DATABASE IF EXISTS "{side.db_name}" WITH (FORCE)')
        finally:
            await admin.close()

    async def _delete_broker_objects(self) -> None:
        connection = await aio_pika.connect(amqp_url())
        async with connection:
            for side in self.sides:
                channel = await connection.channel()  # a failed delete closes its channel
                with contextlib.suppress(Exception):
                    await channel.queue_delete(side.topology.queue("sink"))
                channel = await connection.channel()
                with contextlib.suppress(Exception):
                    await channel.exchange_delete(side.topology.events_exchange)


# -- the benchmark ---------------------------------------------------------------------------

def round_line(side: str, n: int | str, r: Round) -> str:
    return (f"  {side:<9} {n!s:>6}  {r.rate:8,.0f} req/s  p50 {r.p50_ms:6.1f} ms  "
            f"p99 {r.p99_ms:6.1f} ms  CPU/request: server {r.server_cpu_ms:5.2f} ms, "
            f"PostgreSQL {r.postgres_cpu_ms:5.2f} ms  outbox at the end {r.backlog:,} "
            f"(empty {r.drain_s:.1f}s later)")


def median_round(rounds: list[Round]) -> Round:
    def med(values: list[float]) -> float:
        return statistics.median(values)

    return Round(rate=med([r.rate for r in rounds]), p50_ms=med([r.p50_ms for r in rounds]),
                 p99_ms=med([r.p99_ms for r in rounds]),
                 server_cpu_ms=med([r.server_cpu_ms for r in rounds]),
                 postgres_cpu_ms=med([r.postgres_cpu_ms for r in rounds]),
                 backlog=int(med([r.backlog for r in rounds])),
                 drain_s=med([r.drain_s for r in rounds]), answers={}, wrapped=0,
                 socket_errors=0)


def problems(side: Side, r: Round) -> list[str]:
    found = []
    unexpected = {s: c for s, c in r.answers.items() if s != "202"}
    if unexpected:
        found.append(f"{side.name}: answers other than 202: {unexpected}")
    if r.wrapped:
        found.append(f"{side.name}: ran out of distinct requests {r.wrapped} time(s) (raise "
                     "--max-rate): repeats were measured too")
    if r.socket_errors:
        found.append(f"{side.name}: {r.socket_errors} socket errors or timeouts")
    return found


async def benchmark(bench: Bench) -> None:
    args = bench.args
    began = time.monotonic()
    await bench.start()
    print(f"wrk: {args.connections} connections on {args.threads} threads, {args.seconds:g}s "
          f"per round, {args.rounds} rounds per side, alternating (after a "
          f"{args.warmup:g}s warm-up of each)", flush=True)
    for side in bench.sides:
        await bench.load(side, args.warmup, f"{side.name}-warmup")
    issues: list[str] = []
    for n in range(1, args.rounds + 1):
        for side in bench.sides:
            result = await bench.load(side, args.seconds, f"{side.name}-{n}")
            side.rounds.append(result)
            issues += problems(side, result)
            print(round_line(side.name, n, result), flush=True)
    baseline, ingest = (median_round(side.rounds) for side in bench.sides)
    print(f"median of {args.rounds} rounds:")
    print(round_line("baseline", "", baseline))
    print(round_line("ingest", "", ingest))
    rate, p50, p99 = (ingest.rate / baseline.rate, ingest.p50_ms / baseline.p50_ms,
                      ingest.p99_ms / baseline.p99_ms)
    verdict = {True: "met", False: "NOT met"}
    print(f"ingest / baseline: requests/s {rate:.2f}x (target >= {TARGET_RATE_RATIO:.2f}x: "
          f"{verdict[rate >= TARGET_RATE_RATIO]}), p50 {p50:.2f}x, p99 {p99:.2f}x (target <= "
          f"{TARGET_P99_RATIO:.1f}x: {verdict[p99 <= TARGET_P99_RATIO]}); CPU per request: "
          f"server {ingest.server_cpu_ms / baseline.server_cpu_ms:.2f}x, PostgreSQL "
          f"{ingest.postgres_cpu_ms / baseline.postgres_cpu_ms:.2f}x")
    for issue in issues:
        print(f"  warning: {issue}")
    print(f"total benchmark time {time.monotonic() - began:.0f}s")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="length of a round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per side")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up per side")
    parser.add_argument("--max-rate", type=int, default=5000,
                        help="distinct requests prepared per second of a round")
    parser.add_argument("--wrk", default=shutil.which("wrk") or "wrk", help="wrk's path")
    args = parser.parse_args()
    if args.connections < args.threads:
        parser.error("--connections must be at least --threads")
    return args


async def main() -> None:
    args = parse_args()
    if shutil.which(args.wrk) is None:
        raise SystemExit(f"{args.wrk} not found: install wrk (Debian: apt-get install wrk)")
    bench = Bench(args)
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        await benchmark(bench)
    except asyncio.CancelledError:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        raise
    finally:
        await bench.cleanup()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except asyncio.CancelledError:  # SIGTERM
        sys.exit(143)
