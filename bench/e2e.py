"""End-to-end benchmark (not a test): the whole system as processes, driven like Labelbox.

Starts its own PostgreSQL database (created, migrated, dropped at the end), its own broker
namespace (TRAINBRIDGE_AMQP_NAMESPACE=bench-<pid>; its exchanges and queues are deleted at
the end), the fake Labelbox (--auto-create) and `trainbridge ingest`, `trainer` and
`reporter` as child processes under trainbridge.dev.Supervisor, with fast settings (relay and
export/import polls 0.05 s, no client-side Labelbox rate limit, reporter concurrency 32 and
acknowledge concurrency 8,
log level WARNING). Then, in this order:

1. Floors (the baseline for the latency ratio): the median round trip of one persistent
   message published with publisher confirms to a quorum queue and consumed, through the
   same RabbitMQ with raw aio-pika (one "hop", as the system's path: ingest -> the
   reporter's acknowledgement lane), and the median duration of one `update_status` call to
   the fake through the reporter's SDK adapter. floor = 1 hop + 1 call. (The latency below
   ends when the first call *starts*, so this floor includes one call more than the path
   needs.)

2. Throughput of complete runs: --complete-runs signed POST /model_run at once; wall time
   from the first request until the last run shows COMPLETE at the fake (the fake's
   timestamp of the status), runs/s, and the median per-run duration (2xx -> COMPLETE).
   Baseline: the Labelbox calls of the same number of complete runs (bench/reporter.py's
   baseline_run, 60 sample rows) made straight through the SDK adapter from
   --reporter-concurrency threads, with no event log, broker, training or audit.
   --pipeline trivial (default) registers bench/trivial_pipeline.py (majority class, no
   scikit-learn) as a plug-in: a dist-info in a temporary folder on the children's
   PYTHONPATH, found through the `trainbridge.pipelines` entry point group. The trainer
   still runs every run in a child process of its own (forked from its forkserver), up to
   TRAINBRIDGE_TRAINER_CONCURRENCY (--trainer-concurrency; unset: its CPUs) at once.
   --pipeline text uses the built-in text_single_classification (TF-IDF + logistic
   regression on the fake's 60 sample rows).

3. Latency, one phase per rate in --rates (fresh run ids each): signed POST /model_run on a
   fixed schedule (not back-to-back) at that rate for --seconds; for each accepted run,
   latency = the reporter's first Labelbox call (min(started_at) in labelbox_calls) minus
   the wall-clock time (time.time()) its 2xx answer arrived. Waits until every accepted run
   has its first call (--drain-timeout; runs that never got one are reported), then until
   the system is idle, before the next phase. Prints achieved request rate, non-2xx
   answers, count/p50/p90/p99/max, the targets (p50 <= 30 ms, p99 <= 150 ms), p50 as a
   multiple of the floor, and the latency broken into hops, from the database's own clock
   (same machine): 2xx -> ingest's relay claims TrainingRequested (outbox.published_at is
   the claim transaction's start) -> reporter's first call starts (the acknowledgement,
   EXPORTING_DATA; the trainer is not on this path). (The first hop is often
   negative: the relay claims the event before the client has read the 2xx.) Also printed:
   what the reporter did for the phase's runs (calls/s, call duration, runs in flight) and
   the CPU each process used during the phase, as % of one core and in ms per
   acknowledged run (until the last first call, and until the system is idle again).

Before the latency phases (after the throughput phase), an acknowledgement-only phase
(--ack-rate, default 50/s, for --seconds): the trainer is paused with SIGSTOP, so only the
acknowledgement path works (ingest and its outbox relay, RabbitMQ, PostgreSQL, the
reporter's acknowledgement lane); its CPU ms per acknowledged run, by process, against the
target of 8 ms. Then the trainer resumes and those runs fail at their export.

CPU is read from /proc: each service's process tree (the trainer's forkserver and training
children included, reaped ones through cutime/cstime), RabbitMQ's beam.smp tree, the fake
Labelbox and the benchmark client separately; PostgreSQL twice: "this database" (the
services' backends of the benchmark's database, from pg_stat_activity, plus the server's
own processes such as the walwriter) and the whole server's process tree (every database's
backends: other users of a shared server show up there). "anything else" is the machine's
busy time minus everything counted. Memory: each service's VmRSS idle (after the floors),
its maximum sampled every 0.5 s during the phases, and idle at the end; the trainer's
children (forkserver, training processes) are summed on a line of their own. The end
prints a table of CPU ms per run by process for every phase.
   --latency-runs stop-at-export (default): the fake fails these runs' exports, so each run
   ends FAILED right after the measured path and no training backlog builds up (at 100
   runs/s no 2-core machine keeps up with training).
   --latency-runs train: the runs go on to train, so a growing training backlog loads the
   machine during the later phases (it is abandoned at the end).

Ctrl-C (once) or SIGTERM stops everything and cleans up. Uses TRAINBRIDGE_TEST_DATABASE_URL
(else TRAINBRIDGE_DATABASE_URL, else localhost) and TRAINBRIDGE_TEST_AMQP_URL (else
TRAINBRIDGE_AMQP_URL, else localhost); the database user must be allowed to CREATE DATABASE.

    .venv/bin/python bench/e2e.py [--rates 10,25,50,100] [--seconds 10] [--complete-runs 40]
                                  [--ack-rate 50] [--trainer-concurrency N]
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
import math
import os
import shutil
import signal
import statistics
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg
import aiohttp
import httpx

from bench import proc_usage
from bench.support import amqp_url, database_url, free_port
from eventlog.migrate import upgrade
from eventlog.topology import Topology
from fake_labelbox.control import FakeLabelboxControl
from fake_labelbox.demo_client import model_run_body, signature
from services.reporter.sdk_adapter import SdkLabelbox, single_attempt_client
from trainbridge.dev import ChildSpec, Supervisor
from trainbridge.dev_console import Console

HALT = threading.Event()
"""Set at cleanup: the floor and baseline threads stop calling the fake (which is going)."""
API_KEY = "bench-key"
SECRET = "bench-secret"
MODEL_ID = "model-1"
TRIVIAL_MODEL_TYPE = "bench_majority_class"  # bench/trivial_pipeline.py's model_type
TEXT_MODEL_TYPE = "text_single_classification"
SAMPLE_ROWS = 60  # what the fake serves an auto-created run
TERMINAL = ("COMPLETE", "FAILED")
TARGET_P50_MS, TARGET_P99_MS = 30.0, 150.0
CONSUMERS = ("trainer", "reporter", "reporter-acknowledge")


# -- small helpers -----------------------------------------------------------------------

def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (any order); NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summary(values: Sequence[float]) -> str:
    if not values:
        return "n=0"
    return (f"n={len(values)}  p50 {percentile(values, .5):7.1f}  p90 "
            f"{percentile(values, .9):7.1f}  p99 {percentile(values, .99):7.1f}  "
            f"max {max(values):7.1f} ms")


def fake_time(at: str) -> float:
    """The fake's status timestamp (``2024-01-01T00:00:00.000Z``) as epoch seconds."""
    return datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


NOISE = "Connection pool is full, discarding connection"
"""urllib3's warning when more SDK threads than the SDK session's 10 pooled connections call
at once: counted, not printed (it would drown the output at the default concurrency)."""
suppressed: Counter[str] = Counter()


class QuieterConsole(Console):
    """Prints the supervised children's lines, less urllib3's pool warnings."""

    def say(self, name: str, line: str) -> None:
        if NOISE in line:
            suppressed[name] += 1
        else:
            super().say(name, line)



BENCH_APPLICATION = "trainbridge-bench"
"""application_name of the benchmark's own database connections (not counted as the system's)."""

_OUR_BACKENDS = """
SELECT pid FROM pg_stat_activity
WHERE datname IS NULL OR (datname = current_database() AND application_name <> $1)
"""
"""The PostgreSQL processes working for the measured system: the services' connections to
the benchmark's database and the server's own (walwriter, checkpointer, ...; no database)."""

SERVICES = ("ingest", "trainer", "reporter")
ACK_PATH = ("ingest", "rabbitmq", "postgres (this database)", "reporter")
"""What a run's acknowledgement costs (ingest includes its outbox relay)."""
SHOWN = (*ACK_PATH, "trainer", "fake labelbox", "bench client", "postgres (whole server)",
         "anything else")


@dataclass(frozen=True)
class CpuSnapshot:
    at: float  # time.monotonic()
    seconds: dict[str, float]
    """CPU seconds so far, by process tree (and "machine": the whole machine's busy time)."""
    backends: dict[int, float]
    """CPU seconds so far of each PostgreSQL process in _OUR_BACKENDS."""


@dataclass(frozen=True)
class CpuUsage:
    """CPU seconds used between two snapshots, by process tree."""

    seconds: dict[str, float]
    wall: float

    @classmethod
    def between(cls, before: CpuSnapshot, after: CpuSnapshot) -> CpuUsage:
        used = {k: v - before.seconds.get(k, 0.0) for k, v in after.seconds.items()}
        # A connection opened inside the window counts whole; one closed inside it is lost
        # (the services' pools keep theirs).
        used["postgres (this database)"] = sum(
            cpu - before.backends.get(pid, 0.0) for pid, cpu in after.backends.items())
        machine = used.pop("machine", math.nan)
        counted = sum(v for k, v in used.items() if k != "postgres (this database)")
        used["anything else"] = machine - counted  # other users of the machine, the kernel
        used["machine"] = machine
        return cls(used, after.at - before.at)

    @property
    def ack_path(self) -> float:
        return sum(self.seconds.get(k, 0.0) for k in ACK_PATH)

    def percent(self) -> str:
        """% of one core by process (the whole server's PostgreSQL, as the machine sees it)."""
        parts = {k: v for k, v in self.seconds.items()
                 if k not in ("machine", "postgres (this database)")}
        shown = [f"{k} {v / self.wall * 100:.0f}"
                 for k, v in sorted(parts.items(), key=lambda kv: -kv[1])]
        return (f"{', '.join(shown)}; machine {self.seconds['machine'] / self.wall * 100:.0f} "
                f"of {100 * (os.cpu_count() or 1)}")

    def per_run(self, runs: int) -> str:
        """CPU ms per run by process, the acknowledgement path's sum first."""
        if not runs:
            return "no runs"
        ms = {k: self.seconds.get(k, 0.0) * 1000 / runs for k in SHOWN}
        return (f"ack path {self.ack_path * 1000 / runs:.1f} = "
                + " + ".join(f"{k} {ms[k]:.1f}" for k in ACK_PATH)
                + "; " + ", ".join(f"{k} {ms[k]:.1f}" for k in SHOWN if k not in ACK_PATH))


async def cpu_snapshot(system: System) -> CpuSnapshot:
    """CPU seconds so far of each process tree of interest, and of the machine."""
    assert system.pool is not None
    pids = [r["pid"] for r in await system.pool.fetch(_OUR_BACKENDS, BENCH_APPLICATION)]
    processes = await asyncio.to_thread(proc_usage.all_processes)
    seconds: defaultdict[str, float] = defaultdict(float)
    for label, pid in system.service_pids():
        seconds[label] += proc_usage.tree_cpu(processes, [pid])
    if system.fake is not None:
        seconds["fake labelbox"] = proc_usage.tree_cpu(processes, [system.fake.pid])
    seconds["rabbitmq"] = proc_usage.tree_cpu(processes,
                                              proc_usage.roots_named(processes, "beam.smp"))
    seconds["postgres (whole server)"] = proc_usage.tree_cpu(
        processes, proc_usage.roots_named(processes, "postgres"))
    times = os.times()
    seconds["bench client"] = times.user + times.system
    seconds["machine"] = proc_usage.machine_busy()
    return CpuSnapshot(time.monotonic(), dict(seconds),
                       {pid: processes[pid].cpu for pid in pids if pid in processes})


MB = 1024 * 1024


class MemoryWatch:
    """Resident memory (VmRSS) of each service process, its largest value sampled while
    ``watch`` runs, and the trainer's children (its forkserver and training processes) summed:
    they share much of their memory copy-on-write, so that sum overstates."""

    def __init__(self, system: System) -> None:
        self._system = system
        self.peak: Counter[str] = Counter()

    def sample(self) -> dict[str, int]:
        rss: Counter[str] = Counter()
        for label, pid in self._system.service_pids():
            rss[label] += proc_usage.rss_bytes(pid) or 0
            if label == "trainer":
                rss["trainer's children"] += sum(proc_usage.rss_bytes(child) or 0
                                                 for child in proc_usage.descendant_pids(pid))
        if self._system.fake is not None:
            rss["fake labelbox"] = proc_usage.rss_bytes(self._system.fake.pid) or 0
        return dict(rss)

    async def watch(self, stop: asyncio.Event, interval: float = 0.5) -> None:
        while not stop.is_set():
            for label, value in self.sample().items():
                self.peak[label] = max(self.peak[label], value)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)


def install_trivial_pipeline(folder: Path) -> Path:
    """bench/trivial_pipeline.py installed the way pip leaves a plug-in: a module plus a
    dist-info whose entry_points.txt registers it. Returns the folder for PYTHONPATH."""
    folder.mkdir(parents=True)
    shutil.copy(_HERE / "trivial_pipeline.py", folder / "trainbridge_bench_pipeline.py")
    dist_info = folder / "trainbridge_bench_pipeline-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: trainbridge-bench-pipeline\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        "[trainbridge.pipelines]\n"
        f"{TRIVIAL_MODEL_TYPE} = trainbridge_bench_pipeline:MajorityClass\n")
    return folder


# -- the system --------------------------------------------------------------------------

@dataclass
class System:
    """Everything the benchmark started, so that cleanup can undo exactly that."""

    args: argparse.Namespace
    pid: int = field(default_factory=os.getpid)
    tmp: Path | None = None
    db_name: str = ""
    db_created: bool = False
    pool: asyncpg.Pool | None = None
    fake: asyncio.subprocess.Process | None = None
    fake_url: str = ""
    control: FakeLabelboxControl | None = None
    supervisor: Supervisor | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    running: asyncio.Task[None] | None = None
    ingest_url: str = ""
    model_type: str = TRIVIAL_MODEL_TYPE

    @property
    def namespace(self) -> str:
        return f"bench-{self.pid}"

    @property
    def endpoint(self) -> str:
        return f"{self.fake_url}/graphql"

    async def start(self) -> None:
        args = self.args
        self.tmp = Path(tempfile.mkdtemp(prefix="tb-bench-e2e-"))
        self.db_name = f"tb_bench_e2e_{self.pid}"
        admin = await asyncpg.connect(database_url("postgres"))
        try:
            await admin.execute(f'CREATE DATABASE "{self.db_name}"')
            self.db_created = True
        finally:
            await admin.close()
        url = database_url(self.db_name)
        await asyncio.to_thread(upgrade, url)
        self.pool = await asyncpg.create_pool(
            url, min_size=1, max_size=4,
            server_settings={"application_name": BENCH_APPLICATION})

        fake_port = free_port()
        self.fake_url = f"http://127.0.0.1:{fake_port}"
        self.fake = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "trainbridge", "fake-labelbox", "--port", str(fake_port),
            "--api-key", API_KEY, "--auto-create", stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True)
        self.control = FakeLabelboxControl(self.fake_url)
        await self._wait("the fake Labelbox", self._fake_up, 30)

        environ = dict(os.environ)
        if args.pipeline == "trivial":
            plugin = install_trivial_pipeline(self.tmp / "plugin")
            environ["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(plugin), environ.get("PYTHONPATH", "")) if p)
            self.model_type = TRIVIAL_MODEL_TYPE
        else:
            self.model_type = TEXT_MODEL_TYPE
        concurrency = str(args.reporter_concurrency)
        environ.update({
            "PYTHONUNBUFFERED": "1",
            "TRAINBRIDGE_DATABASE_URL": url,
            "TRAINBRIDGE_AMQP_URL": amqp_url(),
            "TRAINBRIDGE_AMQP_NAMESPACE": self.namespace,
            "TRAINBRIDGE_AMQP_PREFETCH": str(args.prefetch),
            "TRAINBRIDGE_AMQP_RETRY_DELAY": "0.2",
            "TRAINBRIDGE_AMQP_RECONNECT_DELAY": "0.3",
            "TRAINBRIDGE_ARTIFACTS_URL": str(self.tmp / "artifacts"),
            "TRAINBRIDGE_WEBHOOK_SECRET": SECRET,
            "TRAINBRIDGE_RELAY_POLL_INTERVAL": "0.05",
            "LABELBOX_API_KEY": API_KEY,
            "TRAINBRIDGE_LABELBOX_ENDPOINT": self.endpoint,
            "TRAINBRIDGE_LABELBOX_CALLS_PER_SECOND": "100000",
            "TRAINBRIDGE_LABELBOX_THREADS": concurrency,
            "TRAINBRIDGE_LABELBOX_TIMEOUT_SECONDS": "10",
            "TRAINBRIDGE_LABELBOX_BACKOFF_SECONDS": "0.05",
            "TRAINBRIDGE_LABELBOX_BACKOFF_MAX_SECONDS": "1",
            "TRAINBRIDGE_REPORTER_CONCURRENCY": concurrency,
            "TRAINBRIDGE_REPORTER_ACKNOWLEDGE_CONCURRENCY": str(args.acknowledge_concurrency),
            "TRAINBRIDGE_EXPORT_POLL_SECONDS": "0.05",
            "TRAINBRIDGE_IMPORT_POLL_SECONDS": "0.05",
            "TRAINBRIDGE_REPORTER_METRICS_PORT": "0",
            "TRAINBRIDGE_TRAINER_METRICS_PORT": "0",  # several trainers on one host
            "TRAINBRIDGE_LOG_LEVEL": args.log_level,
        })
        if args.trainer_concurrency:
            environ["TRAINBRIDGE_TRAINER_CONCURRENCY"] = str(args.trainer_concurrency)
        ingest_port = free_port()
        self.ingest_url = f"http://127.0.0.1:{ingest_port}"
        specs = [ChildSpec.command("ingest", "ingest", "--host", "127.0.0.1", "--port",
                                   str(ingest_port))]
        specs += [ChildSpec.command(f"trainer-{n}" if args.trainers > 1 else "trainer",
                                    "trainer") for n in range(1, args.trainers + 1)]
        specs.append(ChildSpec.command("reporter", "reporter", env={
            "TRAINBRIDGE_DATABASE_POOL_SIZE": str(args.reporter_pool_size)}))
        self.supervisor = Supervisor(specs, environ, console=QuieterConsole(),
                                     restart_delay=0.5, stop_timeout=20)
        self.running = asyncio.create_task(self.supervisor.run(self.stop))
        await self._wait("ingest (with the model type announced)", self._ingest_ready, 60)

    def service_pids(self) -> list[tuple[str, int]]:
        """(service, pid) of each running service process ("trainer" for every trainer)."""
        if self.supervisor is None:
            return []
        return [(name.split("-")[0], child.process.pid)
                for name, child in self.supervisor.children.items()
                if child.process is not None and child.process.returncode is None]

    async def _wait(self, what: str, ready: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not await ready():
            if self.running is not None and self.running.done():
                raise SystemExit(f"the supervisor stopped while waiting for {what}")
            if time.monotonic() > deadline:
                raise SystemExit(f"{what} not ready within {timeout:g}s")
            await asyncio.sleep(0.1)

    async def _fake_up(self) -> bool:
        assert self.fake is not None
        if self.fake.returncode is not None:
            raise SystemExit(f"the fake Labelbox exited ({self.fake.returncode})")
        try:
            async with httpx.AsyncClient(timeout=1) as http:
                return (await http.get(f"{self.fake_url}/_fake/health")).is_success
        except httpx.HTTPError:
            return False

    async def _ingest_ready(self) -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                ready = await http.get(f"{self.ingest_url}/readyz")
                models = await http.get(f"{self.ingest_url}/models",
                                        headers={"X-Hub-Signature": signature(SECRET, b"")})
        except httpx.HTTPError:
            return False
        return ready.status_code == 200 and models.status_code == 200 \
            and self.model_type in models.json()

    async def cleanup(self) -> None:
        """Undo whatever was started, each step on its own so one failure skips nothing."""
        HALT.set()
        steps = [self._stop_children, self._stop_fake, self._drop_database,
                 self._delete_broker_objects]
        for step in steps:
            try:
                await step()
            except BaseException as exc:  # keep cleaning up regardless
                print(f"cleanup: {step.__name__}: {type(exc).__name__}: {exc}", file=sys.stderr)
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    async def _stop_children(self) -> None:
        self.stop.set()
        if self.running is None:
            return
        try:
            await asyncio.wait_for(self.running, 60)
        finally:
            assert self.supervisor is not None
            for child in self.supervisor.children.values():
                if child.process is not None and child.process.returncode is None:
                    child.process.kill()

    async def _stop_fake(self) -> None:
        if self.control is not None:
            self.control.close()
        if self.fake is not None and self.fake.returncode is None:
            self.fake.terminate()
            try:
                await asyncio.wait_for(self.fake.wait(), 10)
            except TimeoutError:
                self.fake.kill()
                await self.fake.wait()

    async def _drop_database(self) -> None:
        if self.pool is not None:
            await self.pool.close()
        if self.db_created:
            admin = await asyncpg.connect(database_url("postgres"))
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            finally:
                await admin.close()

    async def _delete_broker_objects(self) -> None:
        topology = Topology(self.namespace)
        queues = [f"{self.namespace}.bench-floor"]
        for consumer in CONSUMERS:
            queues += [topology.queue(consumer), topology.dead_letter_queue(consumer)]
        connection = await aio_pika.connect(amqp_url())
        async with connection:
            for queue in queues:
                channel = await connection.channel()  # a failed delete closes its channel
                with contextlib.suppress(Exception):
                    await channel.queue_delete(queue)
            for exchange in (topology.events_exchange, topology.dead_letter_exchange):
                channel = await connection.channel()
                with contextlib.suppress(Exception):
                    await channel.exchange_delete(exchange)


# -- requests ------------------------------------------------------------------------------

@dataclass
class Answer:
    run: str
    sent: float  # time.monotonic()
    answered: float = 0.0  # time.monotonic()
    answered_wall: float = 0.0  # time.time(): the clock labelbox_calls.started_at shares
    status: int | None = None  # None: no answer (transport error)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


async def post_run(http: aiohttp.ClientSession, url: str, run: str, body: bytes,
                   headers: dict[str, str]) -> Answer:
    answer = Answer(run, time.monotonic())
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        async with http.post(url, data=body, headers=headers) as response:
            await response.read()
            answer.status = response.status
    answer.answered_wall = time.time()
    answer.answered = time.monotonic()
    return answer


def signed_request(run: str, model_type: str) -> tuple[bytes, dict[str, str]]:
    body = model_run_body(run, model_type, MODEL_ID)
    return body, {"Content-Type": "application/json", "X-Hub-Signature": signature(SECRET, body)}


def http_client() -> aiohttp.ClientSession:
    """The webhook sender (aiohttp: about a third of httpx's CPU per request, which the
    measured system shares the cores with)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256),
                                 timeout=aiohttp.ClientTimeout(total=30))


# -- 1. floors -----------------------------------------------------------------------------

async def broker_hop_floor(system: System, samples: int) -> float:
    """Median seconds from publishing one persistent message (publisher confirms on) to a
    quorum queue until a consumer on another channel has it: raw aio-pika, same broker."""
    connection = await aio_pika.connect(amqp_url())
    async with connection:
        publisher = await connection.channel(publisher_confirms=True)
        consumer = await connection.channel()
        queue = await consumer.declare_queue(f"{system.namespace}.bench-floor", durable=True,
                                             arguments={"x-queue-type": "quorum"})
        arrivals: asyncio.Queue[float] = asyncio.Queue()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            arrivals.put_nowait(time.perf_counter())
            await message.ack()

        tag = await queue.consume(on_message)
        times = []
        for n in range(samples + 10):  # the first ten warm up
            started = time.perf_counter()
            await publisher.default_exchange.publish(
                aio_pika.Message(b"{}", delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                 message_id=str(n)), routing_key=queue.name)
            arrived = await asyncio.wait_for(arrivals.get(), 10)
            if n >= 10:
                times.append(arrived - started)
        await queue.cancel(tag)
        await queue.delete(if_unused=False, if_empty=False)
    return statistics.median(times)


def call_floor(system: System, samples: int) -> tuple[float, float]:
    """Median seconds of one update_status to the fake through the reporter's SDK adapter,
    and the mean CPU seconds the calling process spent per call (the SDK's own cost)."""
    port = SdkLabelbox(single_attempt_client(API_KEY, system.endpoint, 30.0))
    run = f"floor-{system.pid}"
    times = []
    cpu = 0.0
    for n in range(samples + 5):
        if HALT.is_set():
            break
        started, started_cpu = time.perf_counter(), time.thread_time()
        port.update_status(run, "EXPORTING_DATA", {"attempt": "1"}, None)
        if n >= 5:
            times.append(time.perf_counter() - started)
            cpu += time.thread_time() - started_cpu
    return statistics.median(times), cpu / max(1, len(times))


# -- 2. throughput -------------------------------------------------------------------------

def throughput_baseline(system: System, runs: int, threads: int) -> tuple[float, float]:
    """runs/s and calls/s of bench/reporter.py's baseline_run straight through the adapter."""
    from bench import reporter as reporter_bench
    baseline_run = reporter_bench.baseline_run
    port = SdkLabelbox(single_attempt_client(API_KEY, system.endpoint, 30.0))
    lines: list[dict[str, object]] = json.loads(json.dumps(
        reporter_bench.sample_prediction_lines("baseline", SAMPLE_ROWS)))
    ids = [f"baseline-{system.pid}-{n}" for n in range(runs)]
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        calls = sum(pool.map(lambda run: 0 if HALT.is_set() else baseline_run(port, run, lines),
                             ids))
    elapsed = time.perf_counter() - started
    return runs / elapsed, calls / elapsed


@dataclass
class Throughput:
    runs: int
    accepted: int
    complete: int
    failed: int
    unfinished: int
    wall: float
    median_run: float
    stages: dict[str, float]
    """Median seconds from a run's 2xx to each milestone."""
    cpu: CpuUsage
    """First request -> last COMPLETE."""


_MILESTONES = """
SELECT stream_id, event_type, min(recorded_at) AS at FROM events
WHERE stream_id = ANY($1::text[])
  AND event_type IN ('DataExported', 'StageStarted', 'TrainingCompleted')
GROUP BY stream_id, event_type
"""
MILESTONES = {"DataExported": "DataExported", "StageStarted": "training started",
              "TrainingCompleted": "TrainingCompleted"}


async def complete_runs(system: System, count: int, timeout: float) -> Throughput:
    assert system.control is not None
    control = system.control
    ids = [f"complete-{system.pid}-{n}" for n in range(count)]
    requests = [signed_request(run, system.model_type) for run in ids]
    url = f"{system.ingest_url}/model_run"
    started_wall, cpu_before = time.time(), await cpu_snapshot(system)
    async with http_client() as http:
        answers = await asyncio.gather(*(post_run(http, url, run, body, headers)
                                         for run, (body, headers) in zip(ids, requests,
                                                                         strict=True)))
    accepted = {a.run: a for a in answers if a.ok}
    finished: dict[str, tuple[str, float]] = {}
    deadline = time.monotonic() + timeout

    def poll(pending: list[str]) -> None:
        for run in pending:
            try:
                updates = control.model_run(run)["statuses"]
            except httpx.HTTPStatusError:  # 404: the reporter has not called for it yet
                continue
            if updates and updates[-1]["status"] in TERMINAL:
                finished[run] = (updates[-1]["status"], fake_time(updates[-1]["at"]))

    while len(finished) < len(accepted) and time.monotonic() < deadline:
        await asyncio.to_thread(poll, [r for r in accepted if r not in finished])
        await asyncio.sleep(0.2)
    ends = [at for _, at in finished.values()]
    cpu = CpuUsage.between(cpu_before, await cpu_snapshot(system))
    durations = [at - accepted[run].answered_wall for run, (status, at) in finished.items()
                 if status == "COMPLETE"]
    assert system.pool is not None
    reached: dict[str, list[float]] = {label: [] for label in MILESTONES.values()}
    for row in await system.pool.fetch(_MILESTONES, [f"model_run-{r}" for r in accepted]):
        answer = accepted[row["stream_id"].removeprefix("model_run-")]
        reached[MILESTONES[row["event_type"]]].append(
            row["at"].timestamp() - answer.answered_wall)
    reached["COMPLETE at the fake"] = durations
    return Throughput(
        runs=count, accepted=len(accepted),
        complete=sum(s == "COMPLETE" for s, _ in finished.values()),
        failed=sum(s == "FAILED" for s, _ in finished.values()),
        unfinished=len(accepted) - len(finished),
        wall=(max(ends) - started_wall) if ends else math.nan,
        median_run=statistics.median(durations) if durations else math.nan,
        stages={k: statistics.median(v) if v else math.nan for k, v in reached.items()},
        cpu=cpu)


# -- 3. latency ----------------------------------------------------------------------------

_FIRST_CALLS = """
SELECT model_run_id, min(started_at) AS first FROM labelbox_calls
WHERE model_run_id = ANY($1::text[]) GROUP BY model_run_id
"""

_MARKS = """
SELECT e.stream_id, e.event_type, e.recorded_at, o.published_at
FROM events e LEFT JOIN outbox o ON o.global_position = e.global_position
WHERE e.stream_id = ANY($1::text[])
  AND e.event_type = 'TrainingRequested'
"""

HOPS = (
    ("2xx -> ingest's relay claims TrainingRequested", "tr_claimed"),
    ("   -> reporter's first Labelbox call starts", "first_call"),
)


@dataclass
class Phase:
    rate: float
    sent: int
    achieved: float
    schedule_lag_ms: float
    statuses: Counter[str]
    answer_ms: list[float]
    latency_ms: list[float]
    missing: int
    hops_ms: dict[str, list[float]]
    ingest_before_2xx_ms: list[float]
    cpu: CpuUsage
    """First request -> last first call."""
    cpu_to_idle: CpuUsage | None
    """First request -> the system idle again (each run acknowledged, then FAILED at its
    export); None when the runs go on to train."""
    reporter: str

    @property
    def accepted(self) -> int:
        return sum(n for s, n in self.statuses.items() if s.startswith("2"))

    @property
    def refused(self) -> int:
        return self.sent - self.accepted

    def meets_targets(self) -> bool:
        return (not self.missing and bool(self.latency_ms)
                and percentile(self.latency_ms, .5) <= TARGET_P50_MS
                and percentile(self.latency_ms, .99) <= TARGET_P99_MS)


async def send_at_rate(system: System, rate: float, seconds: float, tag: str) -> list[Answer]:
    count = max(1, round(rate * seconds))
    ids = [f"{tag}-{n}" for n in range(count)]
    requests = [signed_request(run, system.model_type) for run in ids]  # signed in advance
    url = f"{system.ingest_url}/model_run"
    loop = asyncio.get_running_loop()
    tasks = []
    async with http_client() as http:
        start = loop.time() + 0.05
        for n, (run, (body, headers)) in enumerate(zip(ids, requests, strict=True)):
            delay = start + n / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post_run(http, url, run, body, headers)))
        return list(await asyncio.gather(*tasks))


async def first_calls(system: System, runs: list[str], timeout: float) -> dict[str, float]:
    assert system.pool is not None
    found: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = await system.pool.fetch(_FIRST_CALLS, runs)
        found = {r["model_run_id"]: r["first"].timestamp() for r in rows}
        if len(found) == len(runs):
            break
        await asyncio.sleep(0.25)
    return found


async def wait_idle(system: System, timeout: float) -> bool:
    """Until the outbox is empty and no Labelbox call was audited for a second."""
    assert system.pool is not None
    deadline = time.monotonic() + timeout
    last, quiet_since = None, time.monotonic()
    while time.monotonic() < deadline:
        backlog = await system.pool.fetchval(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL")
        newest = await system.pool.fetchval("SELECT max(call_id) FROM labelbox_calls")
        if backlog or newest != last:
            last, quiet_since = newest, time.monotonic()
        elif time.monotonic() - quiet_since >= 1.0:
            return True
        await asyncio.sleep(0.25)
    return False


_CALLS = """
SELECT model_run_id, started_at, ended_at, duration_ms FROM labelbox_calls
WHERE model_run_id = ANY($1::text[])
"""


async def reporter_work(system: System, runs: list[str]) -> str:
    """What the reporter did for these runs: calls per run, call duration, how long it was
    busy with a run (first call start -> last call end) and how many runs it had at once."""
    assert system.pool is not None
    spans: dict[str, list[float]] = {}
    durations = []
    for row in await system.pool.fetch(_CALLS, runs):
        durations.append(row["duration_ms"])
        span = spans.setdefault(row["model_run_id"], [math.inf, -math.inf])
        span[0] = min(span[0], row["started_at"].timestamp())
        span[1] = max(span[1], row["ended_at"].timestamp())
    if not spans:
        return "no calls"
    edges = sorted([(a, 1) for a, _ in spans.values()] + [(b, -1) for _, b in spans.values()])
    peak = level = 0
    for _, step in edges:
        level += step
        peak = max(peak, level)
    first = min(a for a, _ in spans.values())
    last = max(b for _, b in spans.values())
    busy = [(b - a) * 1000 for a, b in spans.values()]
    return (f"{len(durations) / len(spans):.1f} calls/run, {len(durations) / (last - first):.0f} "
            f"calls/s; call p50 {percentile(durations, .5):.1f} ms, p99 "
            f"{percentile(durations, .99):.1f} ms; per run first call -> last call end p50 "
            f"{percentile(busy, .5):.0f} ms, p99 {percentile(busy, .99):.0f} ms; peak "
            f"{peak} runs at once")


async def latency_phase(system: System, rate: float, args: argparse.Namespace) -> Phase:
    assert system.pool is not None
    cpu_before = await cpu_snapshot(system)
    answers = await send_at_rate(system, rate, args.seconds, f"lat{rate:g}-{system.pid}")
    sends = sorted(a.sent for a in answers)
    achieved = (len(sends) - 1) / (sends[-1] - sends[0]) if len(sends) > 1 else math.nan
    lag = max(s - (sends[0] + n / rate) for n, s in enumerate(sends)) * 1000
    accepted = {a.run: a for a in answers if a.ok}
    firsts = await first_calls(system, list(accepted), args.drain_timeout)
    cpu = CpuUsage.between(cpu_before, await cpu_snapshot(system))
    latency = {run: (firsts[run] - a.answered_wall) * 1000 for run, a in accepted.items()
               if run in firsts}

    marks: dict[str, dict[str, float]] = {}
    for row in await system.pool.fetch(_MARKS, [f"model_run-{r}" for r in firsts]):
        run = row["stream_id"].removeprefix("model_run-")
        marks.setdefault(run, {})["tr_recorded"] = row["recorded_at"].timestamp()
        if row["published_at"] is not None:
            marks[run]["tr_claimed"] = row["published_at"].timestamp()
    hops: dict[str, list[float]] = {label: [] for label, _ in HOPS}
    ingest_before: list[float] = []
    for run, mark in marks.items():
        mark["first_call"] = firsts[run]
        if not {"tr_recorded", "tr_claimed"} <= mark.keys():
            continue
        previous = accepted[run].answered_wall
        for label, key in HOPS:
            hops[label].append((mark[key] - previous) * 1000)
            previous = mark[key]
        ingest_before.append((accepted[run].answered_wall - mark["tr_recorded"]) * 1000)
    cpu_to_idle = None
    if args.latency_runs == "stop-at-export":
        if not await wait_idle(system, 60):
            print("  (the system was still busy 60 s after the last first call)")
        cpu_to_idle = CpuUsage.between(cpu_before, await cpu_snapshot(system))
    reporter = await reporter_work(system, list(firsts))
    if args.latency_runs == "train":
        reporter = f"(calls audited so far) {reporter}"
    return Phase(
        rate=rate, sent=len(answers), achieved=achieved, schedule_lag_ms=lag,
        statuses=Counter(str(a.status) if a.status is not None else "no answer"
                         for a in answers),
        answer_ms=[(a.answered - a.sent) * 1000 for a in answers if a.ok],
        latency_ms=list(latency.values()), missing=len(accepted) - len(latency),
        hops_ms=hops, ingest_before_2xx_ms=ingest_before, cpu=cpu, cpu_to_idle=cpu_to_idle,
        reporter=reporter)


def print_phase(phase: Phase, floor_ms: float) -> None:
    refused = {s: n for s, n in phase.statuses.items() if not s.startswith("2")}
    print(f"\n== latency at {phase.rate:g} requests/s ==")
    print(f"  sent {phase.sent} at {phase.achieved:.1f}/s achieved (schedule lag max "
          f"{phase.schedule_lag_ms:.1f} ms); 2xx {phase.accepted}, non-2xx {phase.refused}"
          + (f" {dict(refused)}" if refused else ""))
    print(f"  webhook answer (send -> 2xx):  {summary(phase.answer_ms)}")
    print(f"  2xx -> first Labelbox call:    {summary(phase.latency_ms)}")
    if phase.missing:
        print(f"  {phase.missing} accepted run(s) never got a first call")
    if phase.latency_ms:
        p50, p99 = percentile(phase.latency_ms, .5), percentile(phase.latency_ms, .99)
        print(f"  targets p50 <= {TARGET_P50_MS:g} ms: "
              f"{'met' if p50 <= TARGET_P50_MS else 'NOT met'}; p99 <= {TARGET_P99_MS:g} ms: "
              f"{'met' if p99 <= TARGET_P99_MS else 'NOT met'}"
              f"; p50 = {p50 / floor_ms:.1f}x the floor ({floor_ms:.1f} ms)")
    print("  hops (database clock; each hop's own percentiles, so they need not add up):")
    print(f"    {'(TrainingRequested recorded -> 2xx, before the clock starts)':50s} "
          f"p50 {percentile(phase.ingest_before_2xx_ms, .5):7.1f}  "
          f"p99 {percentile(phase.ingest_before_2xx_ms, .99):7.1f} ms")
    for label, values in phase.hops_ms.items():
        print(f"    {label:50s} p50 {percentile(values, .5):7.1f}  "
              f"p99 {percentile(values, .99):7.1f} ms")
    print(f"  reporter: {phase.reporter}")
    print(f"  CPU % of one core, first request -> last first call: {phase.cpu.percent()}")
    acknowledged = len(phase.latency_ms)
    print(f"  CPU ms per acknowledged run, first request -> last first call: "
          f"{phase.cpu.per_run(acknowledged)}")
    if phase.cpu_to_idle is not None:
        print(f"  CPU ms per run, first request -> idle again (acknowledged, then FAILED at "
              f"its export): {phase.cpu_to_idle.per_run(acknowledged)}")


# -- 4. CPU of the acknowledgement path, memory --------------------------------------------

TARGET_ACK_CPU_MS = 8.0
TARGET_IDLE_RSS_MB = 150.0


@dataclass
class AcknowledgementCost:
    rate: float
    accepted: int
    latency_ms: list[float]
    cpu: CpuUsage
    """First request -> last first call, the trainer paused."""

    @property
    def acknowledged(self) -> int:
        return len(self.latency_ms)


async def acknowledgement_cost(system: System, rate: float,
                               args: argparse.Namespace) -> AcknowledgementCost:
    """Runs sent at ``rate`` while the trainer is paused (SIGSTOP), so that nothing but the
    acknowledgement path works (ingest and its relay, RabbitMQ, PostgreSQL, the reporter's
    acknowledgement lane): its CPU per acknowledged run. Then the trainer goes on, the runs
    fail at their export, and the system is let go idle."""
    trainers = [pid for label, pid in system.service_pids() if label == "trainer"]
    before = await cpu_snapshot(system)
    for pid in trainers:
        os.kill(pid, signal.SIGSTOP)
    try:
        answers = await send_at_rate(system, rate, args.seconds, f"ack{rate:g}-{system.pid}")
        accepted = {a.run: a for a in answers if a.ok}
        firsts = await first_calls(system, list(accepted), args.drain_timeout)
        cpu = CpuUsage.between(before, await cpu_snapshot(system))
    finally:
        for pid in trainers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    if not await wait_idle(system, 120):
        print("  (the system was still busy 120 s after the acknowledgement phase)")
    return AcknowledgementCost(
        rate, len(accepted),
        [(firsts[run] - a.answered_wall) * 1000 for run, a in accepted.items() if run in firsts],
        cpu)


def print_acknowledgement_cost(cost: AcknowledgementCost) -> None:
    ack_ms = cost.cpu.ack_path * 1000 / cost.acknowledged if cost.acknowledged else math.nan
    print(f"\n== CPU of the acknowledgement path alone (trainer paused; {cost.rate:g} "
          f"requests/s) ==\n"
          f"  {cost.accepted} accepted, {cost.acknowledged} acknowledged; 2xx -> first call: "
          f"{summary(cost.latency_ms)}\n"
          f"  CPU % of one core: {cost.cpu.percent()}\n"
          f"  CPU ms per acknowledged run: {cost.cpu.per_run(cost.acknowledged)}\n"
          f"  target: ack path (ingest with its relay, RabbitMQ, PostgreSQL, reporter) <= "
          f"{TARGET_ACK_CPU_MS:g} ms per run: "
          f"{'met' if ack_ms <= TARGET_ACK_CPU_MS else 'NOT met'} ({ack_ms:.1f} ms)")


def print_cpu_table(columns: list[tuple[str, CpuUsage, int]]) -> None:
    """CPU ms per run by process, one column per measured window."""
    print("\n== CPU ms per run, by process (postgres (this database): the services' connections "
          "and the server's own processes; whole server: every database's) ==")
    width = max(10, *(len(title) for title, _, _ in columns))
    print(f"  {'':26s}" + "".join(f" {title:>{width}s}" for title, _, _ in columns))
    for label in ("ack path", *SHOWN):
        cells = []
        for _, usage, runs in columns:
            used = usage.ack_path if label == "ack path" else usage.seconds.get(label, 0.0)
            cells.append(f" {used * 1000 / runs:>{width}.1f}" if runs else f" {'-':>{width}s}")
        print(f"  {label:26s}" + "".join(cells))


def print_memory(idle: dict[str, int], peak: dict[str, int], idle_end: dict[str, int]) -> None:
    print(f"\n== memory: VmRSS in MB (target <= {TARGET_IDLE_RSS_MB:g} MB idle per service) ==")
    print(f"  {'':40s} {'idle':>7s} {'max under load':>15s} {'idle at the end':>16s}")
    for label in (*SERVICES, "trainer's children", "fake labelbox"):
        if label not in idle and label not in peak:
            continue
        verdict = ""
        if label in SERVICES:
            verdict = ("  met" if idle.get(label, 0) / MB <= TARGET_IDLE_RSS_MB
                       else "  NOT met")
        shown = ("trainer's children (forkserver, training; summed)"
                 if label == "trainer's children" else label)
        print(f"  {shown:40s} {idle.get(label, 0) / MB:7.1f} {peak.get(label, 0) / MB:15.1f} "
              f"{idle_end.get(label, 0) / MB:16.1f}{verdict}")


# -- main ----------------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="10,25,50,100", metavar="R,R,...",
                        help="request rates (per second) of the latency phases, in order "
                             "(default: %(default)s)")
    parser.add_argument("--rate", type=float, default=100.0,
                        help="the headline rate the targets are judged at; added as a phase "
                             "when missing from --rates (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="duration of each latency phase (default: %(default)s)")
    parser.add_argument("--ack-rate", type=float, default=50.0,
                        help="request rate of the acknowledgement-only phase (the trainer "
                             "paused; its CPU per run by process); 0 skips it "
                             "(default: %(default)s)")
    parser.add_argument("--complete-runs", type=int, default=40,
                        help="runs sent at once for the throughput phase; 0 skips it "
                             "(default: %(default)s)")
    parser.add_argument("--pipeline", choices=("trivial", "text"), default="trivial",
                        help="trivial: bench/trivial_pipeline.py as a plug-in; text: the "
                             "built-in text_single_classification (default: %(default)s)")
    parser.add_argument("--latency-runs", choices=("stop-at-export", "train"),
                        default="stop-at-export",
                        help="whether the latency phases' runs stop after their export "
                             "(the fake fails it) or go on to train (default: %(default)s)")
    parser.add_argument("--reporter-concurrency", type=int, default=32,
                        help="TRAINBRIDGE_REPORTER_CONCURRENCY and _LABELBOX_THREADS, and the "
                             "baseline's threads (default: %(default)s)")
    parser.add_argument("--acknowledge-concurrency", type=int, default=32,
                        help="TRAINBRIDGE_REPORTER_ACKNOWLEDGE_CONCURRENCY: runs the reporter "
                             "acknowledges at once, on threads of their own; sized for 100 "
                             "webhooks/s, at least the rate times a call's time under that "
                             "load (default: %(default)s)")
    parser.add_argument("--reporter-pool-size", type=int, default=10,
                        help="the reporter's TRAINBRIDGE_DATABASE_POOL_SIZE (its statement "
                             "pool; run locks hold connections of their own) "
                             "(default: %(default)s)")
    parser.add_argument("--prefetch", type=int, default=64,
                        help="TRAINBRIDGE_AMQP_PREFETCH: the reporter holds a wake-up message "
                             "until its reconcile ends, so this caps runs in flight too "
                             "(default: %(default)s)")
    parser.add_argument("--trainers", type=int, default=1,
                        help="trainer processes (default: %(default)s)")
    parser.add_argument("--trainer-concurrency", type=int, default=0,
                        help="TRAINBRIDGE_TRAINER_CONCURRENCY: runs each trainer trains at "
                             "once; 0 leaves it unset (the CPUs it may use) "
                             "(default: %(default)s)")
    parser.add_argument("--floor-samples", type=int, default=200,
                        help="samples of each floor measurement (default: %(default)s)")
    parser.add_argument("--drain-timeout", type=float, default=60.0,
                        help="seconds to wait, after a phase's last request, for every "
                             "accepted run's first call (default: %(default)s)")
    parser.add_argument("--complete-timeout", type=float, default=180.0,
                        help="seconds to wait for the throughput runs (default: %(default)s)")
    parser.add_argument("--log-level", default="WARNING",
                        help="TRAINBRIDGE_LOG_LEVEL of the children (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        rates = [float(r) for r in args.rates.split(",") if r.strip()]
    except ValueError:
        parser.error(f"--rates: not a list of numbers: {args.rates!r}")
    if args.rate not in rates:
        rates.append(args.rate)
    if any(r <= 0 for r in rates) or args.seconds <= 0 or args.trainers < 1:
        parser.error("rates, --seconds and --trainers must be positive")
    if args.ack_rate < 0 or args.trainer_concurrency < 0:
        parser.error("--ack-rate and --trainer-concurrency must not be negative")
    args.rate_list = rates
    return args


async def benchmark(system: System, args: argparse.Namespace) -> None:
    began = time.monotonic()
    await system.start()
    print(f"\nsystem up in {time.monotonic() - began:.1f}s: pipeline "
          f"{system.model_type}, broker namespace {system.namespace}, database "
          f"{system.db_name}, reporter concurrency {args.reporter_concurrency}, "
          f"prefetch {args.prefetch}, {args.trainers} trainer(s)")

    hop = await broker_hop_floor(system, args.floor_samples)
    call, call_cpu = await asyncio.to_thread(call_floor, system,
                                             max(20, args.floor_samples // 4))
    floor_ms = (hop + call) * 1000
    print(f"\n== floor (baseline for latency) ==\n"
          f"  raw aio-pika publish (confirmed, quorum queue) -> consume, median: "
          f"{hop * 1000:.2f} ms\n"
          f"  one update_status to the fake through the SDK adapter, median:   "
          f"{call * 1000:.2f} ms (SDK client CPU {call_cpu * 1000:.2f} ms per call)\n"
          f"  floor = 1 hop + 1 call = {floor_ms:.2f} ms")
    memory = MemoryWatch(system)
    idle_memory = memory.sample()  # the services have been idle since they started
    watching_stop = asyncio.Event()
    watching = asyncio.create_task(memory.watch(watching_stop))
    cpu_columns: list[tuple[str, CpuUsage, int]] = []

    throughput: Throughput | None = None
    baseline = (math.nan, math.nan)
    if args.complete_runs > 0:
        threads = min(args.complete_runs, args.reporter_concurrency)
        baseline = await asyncio.to_thread(throughput_baseline, system, args.complete_runs,
                                           threads)
        throughput = await complete_runs(system, args.complete_runs, args.complete_timeout)
        t = throughput
        print(f"\n== throughput of complete runs ({system.model_type}, {args.trainers} "
              f"trainer(s)) ==\n"
              f"  {t.runs} sent at once: {t.accepted} accepted, {t.complete} COMPLETE, "
              f"{t.failed} FAILED, {t.unfinished} unfinished after "
              f"{args.complete_timeout:g}s\n"
              f"  wall (first request -> last COMPLETE): {t.wall:.2f}s = "
              f"{t.complete / t.wall:.2f} runs/s; median per run (2xx -> COMPLETE) "
              f"{t.median_run:.2f}s\n"
              f"  baseline: the same runs' Labelbox calls straight through the SDK adapter "
              f"({threads} threads, no log/broker/training): {baseline[0]:.2f} runs/s "
              f"({baseline[1]:.0f} calls/s)\n"
              f"  ratio: {t.complete / t.wall / baseline[0]:.3f}x the baseline's runs/s\n"
              f"  median s from 2xx to: "
              + ", ".join(f"{k} {v:.2f}" for k, v in t.stages.items())
              + f"\n  CPU % of one core, first request -> last COMPLETE: {t.cpu.percent()}"
              + f"\n  CPU ms per complete run: {t.cpu.per_run(t.complete)}")
        cpu_columns.append(("complete", t.cpu, t.complete))

    assert system.control is not None
    await asyncio.to_thread(system.control.set_export_behaviour, None, fail=True)
    if args.ack_rate:
        cost = await acknowledgement_cost(system, args.ack_rate, args)
        print_acknowledgement_cost(cost)
        cpu_columns.append((f"ack {cost.rate:g}/s", cost.cpu, cost.acknowledged))
    if args.latency_runs == "train":
        await asyncio.to_thread(system.control.set_export_behaviour, None, fail=False)
    phases = []
    for rate in args.rate_list:
        phase = await latency_phase(system, rate, args)
        print_phase(phase, floor_ms)
        phases.append(phase)
        cpu_columns.append((f"run {rate:g}/s", phase.cpu_to_idle or phase.cpu,
                            len(phase.latency_ms)))
    watching_stop.set()
    await watching
    await wait_idle(system, 30)
    print_memory(idle_memory, dict(memory.peak), memory.sample())
    print_cpu_table(cpu_columns)
    print("  (ack W/s: the acknowledgement path alone, the trainer paused; run R/s: first "
          "request -> idle again, each run acknowledged then FAILED at its export; complete: "
          "per COMPLETE run)" if args.latency_runs == "stop-at-export" else
          "  (run R/s: first request -> last first call; the runs go on training)")

    print(f"\n== summary (latency = 2xx -> first Labelbox call, ms; floor {floor_ms:.1f} ms; "
          f"runs {args.latency_runs}) ==")
    print(f"  {'rate/s':>7} {'achieved':>8} {'non-2xx':>7} {'n':>5} {'missing':>7} "
          f"{'p50':>7} {'p90':>7} {'p99':>7} {'max':>7} {'p50/floor':>9}  targets")
    for p in phases:
        v = p.latency_ms
        print(f"  {p.rate:7g} {p.achieved:8.1f} {p.refused:7d} {len(v):5d} {p.missing:7d} "
              f"{percentile(v, .5):7.1f} {percentile(v, .9):7.1f} {percentile(v, .99):7.1f} "
              f"{max(v, default=math.nan):7.1f} {percentile(v, .5) / floor_ms:9.1f}  "
              f"{'met' if p.meets_targets() else 'NOT met'}")
    headline = next(p for p in phases if p.rate == args.rate)
    print(f"\n  at {args.rate:g}/s: targets p50 <= {TARGET_P50_MS:g} ms and p99 <= "
          f"{TARGET_P99_MS:g} ms {'MET' if headline.meets_targets() else 'NOT MET'}")
    if throughput is not None:
        print(f"  complete runs: {throughput.complete / throughput.wall:.2f} runs/s "
              f"({throughput.complete / throughput.wall / baseline[0]:.3f}x the SDK-only "
              f"baseline of {baseline[0]:.2f} runs/s)")
    if suppressed:
        print(f"  (not shown: {sum(suppressed.values())} urllib3 warnings \"{NOISE}\" from "
              f"{', '.join(sorted(suppressed))}: the SDK's session pools 10 connections)")
    print(f"  total benchmark time {time.monotonic() - began:.0f}s")


async def main() -> None:
    args = parse_args()
    system = System(args)
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        await benchmark(system, args)
    except asyncio.CancelledError:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        raise
    finally:
        await system.cleanup()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except asyncio.CancelledError:  # SIGTERM
        sys.exit(143)
