"""CPU per append (not a test): the PostgreSQL backends' CPU time and the client's per
single-event ``PostgresEventStore.append``, for one or more builds of Trainbridge side by side,
against raw asyncpg ``BEGIN; INSERT; COMMIT`` into a one-index table.

Each build (``--build LABEL=PATH``: a checkout, put first on PYTHONPATH) gets a database of its
own, migrated by its own migrations, and a worker process; the raw baseline gets one too. The
workers append in blocks, in turn (reversed every other round), so that the load of a shared
machine falls on every side alike; the backends' CPU is read from /proc/<pid>/schedstat, so
the script must run on the database's host. Prints the median per block of each side, the
median of its per-block differences to the first side, and the CPU ratio
(baseline backend + client) / (side backend + client).

    .venv/bin/python bench/append_cpu.py --build old=/tmp/old-checkout --build new=. \\
        [--writers 1] [--blocks 20] [--block 250] [--synchronous-commit off]
"""

from __future__ import annotations

import sys
from pathlib import Path

# This folder holds bench/eventlog.py, named like the package it measures: keep it off the path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

PAYLOAD = {"modelType": "text_single_classification", "modelRunId": "x" * 36, "n": 0}
RAW = "raw"


def database_url(name: str) -> str:
    base = os.environ.get("TRAINBRIDGE_TEST_DATABASE_URL") or os.environ.get(
        "TRAINBRIDGE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


def backend_cpu_ns(pid: int) -> int:
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


# ---------------------------------------------------------------- worker (one build's process)

async def worker(url: str, mode: str, writers: int, synchronous_commit: str) -> None:
    """Append blocks of the size read from stdin; print each block's CPU per append."""
    import asyncpg

    from eventlog import NewEvent, event_metadata
    from eventlog.postgres import PostgresEventStore, create_pool
    from eventlog.settings import DatabaseSettings

    pool = await create_pool(DatabaseSettings(url=url, pool_size=writers))
    held = [await pool.acquire() for _ in range(writers)]
    # The baseline writes as bench/eventlog.py's does: a connection of its own per writer.
    raw = [await asyncpg.connect(url) for _ in range(writers)] if mode == RAW else []
    pids = [c.get_server_pid() for c in raw or held]
    for connection in held + raw:
        await connection.execute(f"SET synchronous_commit = {synchronous_commit}")
    for connection in held:
        await pool.release(connection)
    store = PostgresEventStore(pool)
    metadata = event_metadata(producer="bench")
    tag = uuid.uuid4().hex[:8]
    body = json.dumps(PAYLOAD)

    async def append(block: int, w: int, count: int) -> None:
        for n in range(count):
            if mode == RAW:
                async with raw[w].transaction():
                    await raw[w].execute(
                        "INSERT INTO bench_raw (stream_id, data) VALUES ($1, $2::text::jsonb)",
                        f"s-{n}", body)
            else:
                await store.append(f"model_run-{tag}-{block}-{w}-{n}",
                                   [NewEvent("TrainingRequested", PAYLOAD, metadata)])

    loop = asyncio.get_running_loop()
    block = 0
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        count = int(line) // writers * writers
        block += 1
        backend, client = sum(map(backend_cpu_ns, pids)), time.process_time()
        await asyncio.gather(*(append(block, w, count // writers) for w in range(writers)))
        print(json.dumps([(sum(map(backend_cpu_ns, pids)) - backend) / count / 1e3,
                          (time.process_time() - client) / count * 1e6]), flush=True)
    for connection in raw:
        await connection.close()
    await pool.close()


# ---------------------------------------------------------------- driver

def prepare(label: str, path: str, name: str) -> str:
    """A fresh database for one side: migrated by the build's own migrations, or (raw) with
    the baseline's one-index table."""
    url = database_url(name)
    admin = database_url("postgres")
    subprocess.run(["psql", "-q", admin, "-c", f'DROP DATABASE IF EXISTS "{name}"',
                    "-c", f'CREATE DATABASE "{name}"'], check=True, capture_output=True)
    if label == RAW:
        subprocess.run(["psql", "-q", url, "-c", "CREATE TABLE bench_raw (id bigint GENERATED "
                        "ALWAYS AS IDENTITY PRIMARY KEY, stream_id text NOT NULL, data jsonb "
                        "NOT NULL)"], check=True, capture_output=True)
    else:
        subprocess.run([sys.executable, "-c", "import sys; from eventlog.migrate import upgrade; "
                        "upgrade(sys.argv[1])", url], check=True, capture_output=True,
                       env=dict(os.environ, PYTHONPATH=path), cwd=path)
    return url


def main(args: argparse.Namespace) -> None:
    builds = [tuple(b.split("=", 1)) for b in args.build] or [("this", str(_HERE.parent))]
    sides = [*builds, (RAW, str(_HERE.parent))]
    names = [f"tb_cpu_{label}_{os.getpid()}" for label, _ in sides]
    workers = []
    try:
        for (label, path), name in zip(sides, names, strict=True):
            url = prepare(label, path, name)
            workers.append(subprocess.Popen(
                [sys.executable, __file__, "--worker", url, "store" if label != RAW else RAW,
                 str(args.writers), args.synchronous_commit],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                env=dict(os.environ, PYTHONPATH=str(Path(path).resolve()))))

        def block(process: subprocess.Popen[str], count: int) -> list[float]:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(f"{count}\n")
            process.stdin.flush()
            measured: list[float] = json.loads(process.stdout.readline())
            return measured

        for process in workers:
            block(process, 300)  # warm up: statement caches, generic plans
        results: list[list[list[float]]] = [[] for _ in workers]
        for r in range(args.blocks):
            order = list(range(len(workers)))
            for i in order if r % 2 == 0 else order[::-1]:
                results[i].append(block(workers[i], args.block))
    finally:
        for process in workers:
            if process.stdin is not None:
                process.stdin.close()
            process.wait()
        for name in names:
            subprocess.run(["psql", "-q", database_url("postgres"), "-c",
                            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], capture_output=True)

    print(f"CPU per single-event append, {args.writers} writer(s), synchronous_commit="
          f"{args.synchronous_commit}, {args.blocks} blocks of {args.block} per side (µs):")
    raw_total = statistics.median(b + c for b, c in results[-1])
    for (label, _), blocks in zip(sides, results, strict=True):
        backend = [b for b, _ in blocks]
        q1, _, q3 = statistics.quantiles(backend, n=4)
        diff = statistics.median(
            b - first for (b, _), (first, _) in zip(blocks, results[0], strict=True))
        total = statistics.median(b + c for b, c in blocks)
        print(f"  {label:<8} backend {statistics.median(backend):6.1f} (IQR {q1:.1f}-{q3:.1f})"
              f"  client {statistics.median(c for _, c in blocks):6.1f}"
              f"  backend vs {sides[0][0]}: {diff:+6.1f}"
              f"  CPU ratio raw/this: {raw_total / total:.2f}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        url, mode, writers, synchronous = sys.argv[2:6]
        asyncio.run(worker(url, mode, int(writers), synchronous))
        sys.exit()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", action="append", default=[], metavar="LABEL=PATH",
                        help="a checkout to measure (repeatable; default: this one)")
    parser.add_argument("--writers", type=int, default=1)
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--block", type=int, default=250, help="appends per block")
    parser.add_argument("--synchronous-commit", choices=("on", "off"), default="off")
    main(parser.parse_args())
