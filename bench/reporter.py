"""Reporter benchmark (not a test): sustained Labelbox calls/s against the fake Labelbox
(a separate `trainbridge fake-labelbox` process, no injected latency), in one run:

- baseline: the same Labelbox calls a full run needs (status updates, export + poll + rows,
  import find/create + poll + row statuses, COMPLETE), made straight through the SDK adapter
  from ``--concurrency`` threads — no event log, ledger, audit, lock or rate limit;
- Trainbridge: the reporter reconciling the same number of complete runs from PostgreSQL
  (read stream, plan, ledger, advisory lock per run, one audit row per call, DataExported
  appended), ``--concurrency`` runs at a time.

Each side runs ``--rounds`` times, alternating; the best round counts. Prints calls/s, runs/s,
the ratio (best rounds, and each round against the baseline just before it), the
reporter's PostgreSQL transactions per run (its round trips) and, per Labelbox call, the CPU
time of this process (the SDK's threads and, on the reporter's side, the asyncio loop), of the
fake Labelbox and (reporter) of the benchmark database's PostgreSQL backends: CPU per call
varies much less with the load on a shared machine than calls/s. Uses
TRAINBRIDGE_TEST_DATABASE_URL (or TRAINBRIDGE_DATABASE_URL); creates and
drops its own database.

    .venv/bin/python bench/reporter.py [--runs 60] [--concurrency 8] [--rounds 3] [--sides reporter]
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
import json
import os
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
import httpx

from bench import proc_usage
from bench.support import database_url, free_port
from eventlog import NewEvent, event_metadata
from eventlog.artifacts import read_artifact, write_artifact
from eventlog.migrate import upgrade
from eventlog.postgres import Database, PostgresEventStore, create_pool
from eventlog.settings import DatabaseSettings
from eventlog.contract.annotations import Answer, Radio
from eventlog.contract.ndjson import prediction_lines, to_ndjson
from fake_labelbox.control import FakeLabelboxControl
from fake_labelbox.sample_rows import text_classification_rows
from services.reporter.bootstrap import build_reporter
from services.reporter.sdk_adapter import SdkLabelbox, single_attempt_client
from services.reporter.settings import CallPolicy, ReporterSettings

API_KEY = "bench-key"
ROWS = 20




@dataclass(frozen=True)
class Result:
    calls_per_second: float
    runs_per_second: float
    transactions_per_run: float
    calls: int
    client_cpu: float
    """CPU seconds of this process (all its threads) while the side ran."""
    postgres_cpu: float = 0.0
    """CPU seconds of the benchmark database's PostgreSQL backends while the side ran."""
    fake_cpu: float = 0.0


def process_cpu() -> float:
    times = os.times()
    return times.user + times.system


_OUR_BACKENDS = ("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                 "AND pid <> pg_backend_pid()")


async def backend_cpu(url: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend of the benchmark's database, asked
    over a connection of its own (a pool's connection, left out as the asker, would be
    missed in one reading and counted whole in the next)."""
    asker = await asyncpg.connect(url)
    try:
        pids = [r["pid"] for r in await asker.fetch(_OUR_BACKENDS)]
    finally:
        await asker.close()
    procs = {pid: proc_usage.read_proc(pid) for pid in pids}
    return {pid: p.cpu for pid, p in procs.items() if p is not None}


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU of the backends between two readings (one connected meanwhile: all of it)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def start_fake(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "trainbridge", "fake-labelbox", "--port", str(port),
         "--api-key", API_KEY], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            httpx.get(f"http://127.0.0.1:{port}/_fake/health", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the fake Labelbox did not start")


def sample_prediction_lines(run: str, rows: int) -> list[dict[str, Any]]:
    """What a text classification run uploads for the fake's sample rows: "positive" for the
    `sentiment` question, confidence 0.8, as the trainer writes it."""
    return [line for n in range(rows)
            for line in prediction_lines(run, f"sample-dr-{n:04d}",
                                         [Radio("sentiment", Answer("positive", 0.8))], 0.8)]


def predictions_artifact(folder: Path, run: str) -> tuple[str, str]:
    lines = sample_prediction_lines(run, ROWS)
    artifact = write_artifact(f"file://{folder}/{run}.ndjson", to_ndjson(lines))
    return artifact.uri, artifact.sha256


def stream_events(run: str, uri: str, sha256: str) -> list[NewEvent]:
    def event(kind: str, data: dict[str, object], step: str = "") -> NewEvent:
        return NewEvent(kind, {"attempt": 1, **data},
                        event_metadata(producer="bench", correlation_id=run),
                        event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{run}/{kind}/{step}"))

    return [
        event("TrainingRequested", {"modelRunId": run, "modelId": "model-1",
                                    "modelType": "text_single_classification"}),
        event("DataExportRequested", {"modelRunId": run}),
        event("StageStarted", {"stage": "PREPARING_DATA", "metadata": {}}, "p"),
        event("StageStarted", {"stage": "TRAINING_MODEL", "metadata": {}}, "t"),
        event("PredictionsProduced", {"uri": uri, "sha256": sha256, "count": ROWS}),
        event("TrainingCompleted", {"modelUri": "file:///m", "metadata": {"model_weights": "m"}}),
    ]


def baseline_run(port: SdkLabelbox, run: str, lines: list[dict[str, object]]) -> int:
    """The Labelbox calls the reporter makes for one run, straight through the adapter."""
    calls = 0

    def call(result: object) -> object:
        nonlocal calls
        calls += 1
        return result

    call(port.update_status(run, "EXPORTING_DATA", {"attempt": "1"}, None))
    task = str(call(port.start_export(run, f"bench-{run}")))
    while call(port.export_status(task)) == "IN_PROGRESS":
        pass
    call(port.export_rows(task))
    call(port.update_status(run, "PREPARING_DATA", {"stage": "PREPARING_DATA"}, None))
    call(port.update_status(run, "TRAINING_MODEL", {"stage": "TRAINING_MODEL"}, None))
    name = f"bench-{run}"
    report = call(port.find_import(run, name))
    if report is None:
        report = call(port.create_import(run, name, lines))
    while getattr(report, "state", "FINISHED") == "RUNNING":
        report = call(port.find_import(run, name))
    call(port.import_row_statuses(report))
    call(port.update_status(run, "COMPLETE", {"model_weights": "m"}, None))
    return calls


async def measure_baseline(endpoint: str, runs: list[str], concurrency: int,
                           folder: Path) -> Result:
    port = SdkLabelbox(single_attempt_client(API_KEY, endpoint, 30.0, 2 * concurrency))
    uri, sha256 = predictions_artifact(folder, "baseline")
    lines = [json.loads(x) for x in read_artifact(uri, sha256).splitlines()]
    started, cpu = time.perf_counter(), process_cpu()
    with ThreadPoolExecutor(concurrency) as threads:
        calls = sum(threads.map(lambda r: baseline_run(port, r, lines), runs))
    elapsed = time.perf_counter() - started
    return Result(calls / elapsed, len(runs) / elapsed, 0.0, calls, process_cpu() - cpu)


async def transactions(pool: asyncpg.Pool) -> int:
    """Transactions committed in the benchmark's database so far (each statement outside a
    transaction is one): a count of the reporter's round trips."""
    await asyncio.sleep(1.5)  # backends report their counts when idle, at most once a second
    await pool.execute("SELECT pg_stat_clear_snapshot()")
    count: int = await pool.fetchval(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
    return count


async def measure_reporter(url: str, endpoint: str, runs: list[str], concurrency: int,
                           folder: Path) -> Result:
    settings = ReporterSettings(
        api_key=API_KEY, artifacts_url=f"file://{folder}/artifacts", endpoint=endpoint,
        reporter_id="bench", call_timeout=30.0, concurrency=concurrency,
        policy=CallPolicy(calls_per_second=100_000, threads=2 * concurrency),
        export_poll_interval=0.0001, import_poll_interval=0.0001, metrics_port=0)
    pool = await create_pool(DatabaseSettings(url=url, pool_size=2 * concurrency + 4))
    try:
        store = PostgresEventStore(pool)
        for run in runs:
            uri, sha256 = predictions_artifact(folder, run)
            await store.append(f"model_run-{run}", stream_events(run, uri, sha256))
        port = SdkLabelbox(single_attempt_client(API_KEY, endpoint, 30.0, 2 * concurrency))
        built = build_reporter(settings, Database(pool), port)
        calls, reconciler = built.calls, built.reconciler
        before = await transactions(pool)
        backends = await backend_cpu(url)
        started, cpu = time.perf_counter(), process_cpu()
        await asyncio.gather(*(reconciler.reconcile(f"model_run-{r}", "bench") for r in runs))
        elapsed = time.perf_counter() - started
        client_cpu = process_cpu() - cpu
        postgres_cpu = spent(backends, await backend_cpu(url))
        calls.close()
        # Less the two statements of transactions() itself.
        per_run = (await transactions(pool) - before - 2) / len(runs)
        made: int = await pool.fetchval(
            "SELECT count(*) FROM labelbox_calls WHERE model_run_id = ANY($1::text[])", runs)
        complete: int = await pool.fetchval(
            "SELECT count(*) FROM reporter_deliveries WHERE delivery_key = "
            "'attempt-1/status/COMPLETE' AND model_run_id = ANY($1::text[])", runs)
        if complete != len(runs):
            raise SystemExit(f"only {complete} of {len(runs)} runs reached COMPLETE")
        return Result(made / elapsed, len(runs) / elapsed, per_run, made, client_cpu,
                      postgres_cpu)
    finally:
        await pool.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sides", default="baseline,reporter",
                        help="which sides to run (e.g. `reporter` alone, to profile it)")
    args = parser.parse_args()
    sides = args.sides.split(",")
    if not set(sides) <= {"baseline", "reporter"}:
        parser.error("--sides takes baseline, reporter or both, comma-separated")

    name = f"tb_bench_reporter_{os.getpid()}"
    admin = await asyncpg.connect(database_url("postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = database_url(name)
    await asyncio.to_thread(upgrade, url)
    fake_port = free_port()
    fake = start_fake(fake_port)
    endpoint = f"http://127.0.0.1:{fake_port}/graphql"
    control = FakeLabelboxControl(endpoint)
    best: dict[str, Result] = {}
    ratios: list[float] = []
    cpu_per_call: dict[str, list[float]] = {"baseline": [], "reporter": []}
    baseline_calls = 0.0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            for round_number in range(args.rounds):
                for side in sides:
                    runs = [f"{side}-{round_number}-{n}" for n in range(args.runs)]
                    control.reset()
                    for run in runs:
                        control.add_model_run(run, data_rows=text_classification_rows(
                            "model-1", run, count=ROWS))
                    fake_before = proc_usage.read_proc(fake.pid)
                    if side == "baseline":
                        result = await measure_baseline(endpoint, runs, args.concurrency,
                                                        folder)
                    else:
                        result = await measure_reporter(url, endpoint, runs, args.concurrency,
                                                        folder)
                    fake_after = proc_usage.read_proc(fake.pid)
                    if fake_before is not None and fake_after is not None:
                        result = replace(result, fake_cpu=fake_after.cpu - fake_before.cpu)
                    ms = 1000 / result.calls
                    cpu_per_call[side].append(result.client_cpu * ms)
                    print(f"round {round_number + 1} {side:9s}: "
                          f"{result.calls_per_second:8.1f} calls/s "
                          f"{result.runs_per_second:6.2f} runs/s; CPU per call: "
                          f"process {result.client_cpu * ms:.2f} ms"
                          + (f", PostgreSQL {result.postgres_cpu * ms:.2f} ms"
                             if side == "reporter" else "")
                          + f", fake {result.fake_cpu * ms:.2f} ms" + (
                              f"; {result.transactions_per_run:.1f} PostgreSQL transactions "
                              "per run" if side == "reporter" else ""))
                    if side == "reporter" and baseline_calls:
                        ratios.append(result.calls_per_second / baseline_calls)
                    elif side == "baseline":
                        baseline_calls = result.calls_per_second
                    if side not in best or (result.calls_per_second
                                            > best[side].calls_per_second):
                        best[side] = result
    finally:
        control.close()
        fake.terminate()
        fake.wait()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    if set(best) != {"baseline", "reporter"}:
        return
    base, ours = best["baseline"], best["reporter"]
    print(f"\nbest of {args.rounds} rounds, {args.runs} runs, {args.concurrency} at a time:")
    print(f"  SDK calls straight from {args.concurrency} threads: "
          f"{base.calls_per_second:8.1f} calls/s ({base.runs_per_second:.2f} runs/s)")
    print(f"  reporter (ledger, lock, audit, events):     {ours.calls_per_second:8.1f} "
          f"calls/s ({ours.runs_per_second:.2f} runs/s)")
    print(f"  ratio: {ours.calls_per_second / base.calls_per_second:.2f}x calls/s, "
          f"{ours.runs_per_second / base.runs_per_second:.2f}x runs/s")
    print(f"  each round's ratio (reporter / the baseline just before it): "
          f"{', '.join(f'{r:.2f}x' for r in ratios)}; "
          f"{ours.transactions_per_run:.1f} PostgreSQL transactions per run")
    low = {side: min(values) for side, values in cpu_per_call.items()}
    print(f"  this process's CPU per Labelbox call (lowest round): SDK straight "
          f"{low['baseline']:.2f} ms, reporter {low['reporter']:.2f} ms "
          f"({low['reporter'] / low['baseline']:.2f}x)")


if __name__ == "__main__":
    asyncio.run(main())
