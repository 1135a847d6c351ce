"""``trainbridge dev``: the whole system on one machine without Docker.

Runs ``trainbridge migrate``, then ingest, trainer and reporter as child processes (and,
with ``--demo``, the fake Labelbox plus a signed sample request), each child's output
prefixed with its name. A child that dies is restarted (like compose's ``restart:
unless-stopped``), except after a configuration error (exit code 2), which stops everything.
Ctrl-C (SIGINT) or SIGTERM stops every child gracefully and exits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from eventlog.retry import RetryPolicy, sleep_unless
from eventlog.settings import DatabaseSettings
from trainbridge.dev_console import Console
from trainbridge.dev_progress import show_progress

CONFIGURATION_ERROR = 2
DEMO_SECRET = "dev-secret"
DEMO_API_KEY = "demo-key"


@dataclass(frozen=True)
class ChildSpec:
    name: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    """Variables this child gets on top of the supervisor's environment."""

    @classmethod
    def command(cls, name: str, *args: str, env: Mapping[str, str] | None = None) -> ChildSpec:
        return cls(name, (sys.executable, "-m", "trainbridge", *args),
                   tuple((env or {}).items()))


@dataclass
class Child:
    spec: ChildSpec
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = 0.0
    output: asyncio.Task[None] | None = field(default=None, repr=False)


async def _pump(console: Console, name: str, stream: asyncio.StreamReader) -> None:
    while line := await stream.readline():
        console.say(name, line.decode(errors="replace").rstrip())


class Supervisor:
    """Keeps its children running until stopped; restarts one that dies."""

    def __init__(self, specs: Sequence[ChildSpec], environ: Mapping[str, str], *,
                 console: Console | None = None, restart_delay: float = 1.0,
                 stop_timeout: float = 30.0) -> None:
        self._console = console or Console()
        self.children = {spec.name: Child(spec) for spec in specs}
        self._environ = dict(environ)
        self._restart_delay = restart_delay
        self._quick_restarts = RetryPolicy(initial=restart_delay, cap=max(10.0, restart_delay))
        """For a child that keeps dying right after starting: it backs off (with jitter)."""
        self._stop_timeout = stop_timeout
        self.failed: str | None = None
        """The child whose configuration error stopped everything."""

    def _say(self, line: str) -> None:
        self._console.say("dev", line)

    async def start(self, child: Child) -> None:
        child.process = await asyncio.create_subprocess_exec(
            *child.spec.argv, env={**self._environ, **dict(child.spec.env)},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops children
        )
        child.started_at = time.monotonic()
        assert child.process.stdout is not None
        child.output = asyncio.create_task(
            _pump(self._console, child.spec.name, child.process.stdout))
        self._say(f"started {child.spec.name} (pid {child.process.pid})")

    async def _watch(self, child: Child, stop: asyncio.Event) -> None:
        while not stop.is_set():
            assert child.process is not None
            code = await child.process.wait()
            if child.output is not None:
                await child.output
            if stop.is_set():
                return
            if code == CONFIGURATION_ERROR:
                self._say(f"{child.spec.name} exited with a configuration error; stopping")
                self.failed = child.spec.name
                stop.set()
                return
            quick = time.monotonic() - child.started_at < 5
            child.restarts += 1
            delay = (self._quick_restarts.delay(child.restarts) if quick
                     else self._restart_delay)
            self._say(f"{child.spec.name} exited with code {code}; restarting in {delay:.1f}s")
            await sleep_unless(stop, delay)
            if not stop.is_set():
                await self.start(child)

    async def run(self, stop: asyncio.Event) -> None:
        for child in self.children.values():
            await self.start(child)
        watchers = [asyncio.create_task(self._watch(c, stop)) for c in self.children.values()]
        await stop.wait()
        await self.stop_all()
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)

    async def stop_all(self) -> None:
        running = [c for c in self.children.values()
                   if c.process is not None and c.process.returncode is None]
        for child in running:
            assert child.process is not None
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
        for child in running:
            assert child.process is not None
            try:
                await asyncio.wait_for(child.process.wait(), self._stop_timeout)
            except TimeoutError:
                self._say(f"{child.spec.name} did not stop in {self._stop_timeout:g}s; killing")
                child.process.kill()
                await child.process.wait()
            if child.output is not None:
                await child.output
            self._say(f"stopped {child.spec.name} (exit code {child.process.returncode})")


@dataclass(frozen=True)
class DevOptions:
    port: int = 8000
    demo: bool = False
    fake_port: int = 8081
    once: bool = False
    """With ``demo``: stop everything once the demo run ends (exit 0 if it reached COMPLETE)."""


def child_specs(options: DevOptions) -> list[ChildSpec]:
    specs = []
    if options.demo:
        specs.append(ChildSpec.command("fake-labelbox", "fake-labelbox", "--host", "127.0.0.1",
                                       "--port", str(options.fake_port), "--api-key",
                                       DEMO_API_KEY, "--auto-create"))
    specs += [ChildSpec.command("ingest", "ingest", "--host", "127.0.0.1", "--port",
                                str(options.port)),
              ChildSpec.command("trainer", "trainer"),
              ChildSpec.command("reporter", "reporter")]
    return specs


def dev_environment(options: DevOptions, environ: Mapping[str, str]) -> dict[str, str]:
    env = dict(environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("TRAINBRIDGE_LOG_FORMAT", "text")  # the children's stderr is a pipe to us
    if options.demo:
        env["LABELBOX_API_KEY"] = DEMO_API_KEY
        env["TRAINBRIDGE_LABELBOX_ENDPOINT"] = f"http://127.0.0.1:{options.fake_port}/graphql"
        env.setdefault("TRAINBRIDGE_WEBHOOK_SECRET", DEMO_SECRET)
        # a newcomer should see the run move within seconds, not Labelbox's polling pace
        env.setdefault("TRAINBRIDGE_EXPORT_POLL_SECONDS", "0.2")
        env.setdefault("TRAINBRIDGE_IMPORT_POLL_SECONDS", "0.2")
    return env


async def _migrate(env: Mapping[str, str], console: Console) -> int:
    """``trainbridge migrate``, saying only its problems (not each revision it applies),
    unless ``TRAINBRIDGE_LOG_LEVEL`` asks for more."""
    console.say("dev", "migrating the database (trainbridge migrate)")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trainbridge", "migrate",
        env={"TRAINBRIDGE_LOG_LEVEL": "WARNING", **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert process.stdout is not None
    await _pump(console, "migrate", process.stdout)
    return await process.wait()


async def _demo(options: DevOptions, env: Mapping[str, str], console: Console) -> bool:
    """Play Labelbox's "Train Model" click: a signed request, then follow the run at the
    fake Labelbox until it is COMPLETE or FAILED."""
    from fake_labelbox.demo_client import (
        TEXT_CLASSIFICATION,
        DemoError,
        send_until_accepted,
        wait_for_terminal,
    )
    from services.ingest.settings import WEBHOOK_SECRET

    model_run_id = f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    secret = WEBHOOK_SECRET.read(env)[0]
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per poll of the fake
    said: list[str] = []

    def report(line: str) -> None:
        if said[-1:] != [line]:  # "waiting for ingest …" once, not once a second
            console.say("demo", line)
        said.append(line)

    def show(update: dict[str, Any]) -> None:
        extra = update.get("error_message") or ", ".join(
            f"{k}={v}" for k, v in sorted((update.get("metadata") or {}).items())[:6])
        report(f"Labelbox shows {update.get('status')}  {extra}")

    def demo() -> bool:
        report(f"POST /model_run modelRunId={model_run_id} modelType={TEXT_CLASSIFICATION}")
        try:
            accepted = send_until_accepted(
                f"http://127.0.0.1:{options.port}", secret, model_run_id, TEXT_CLASSIFICATION,
                "model-1", timeout=180, interval=1.0, log=report)
            report(f"ingest answered {accepted.status_code} {accepted.reason_phrase}")
            statuses = wait_for_terminal(f"http://127.0.0.1:{options.fake_port}", model_run_id,
                                         600, interval=0.5, on_status=show)
        except DemoError as exc:
            report(f"demo failed: {exc}")
            return False
        shown = [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s]
        report(f"model run {model_run_id}: {' -> '.join(shown)}")
        return statuses[-1] == "COMPLETE"

    return await asyncio.to_thread(demo)


async def run_dev(options: DevOptions, environ: Mapping[str, str],
                  console: Console | None = None) -> int:
    console = console or Console()
    env = dev_environment(options, environ)
    migrated = await _migrate(env, console)
    if migrated == CONFIGURATION_ERROR:
        console.say("dev", "migrate exited with a configuration error; stopping")
        return CONFIGURATION_ERROR
    if migrated != 0:
        console.say("dev", "migration failed; is PostgreSQL reachable at "
                           "TRAINBRIDGE_DATABASE_URL?")
        return 1
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    supervisor = Supervisor(child_specs(options), env, console=console)
    running = asyncio.create_task(supervisor.run(stop))
    stopped = asyncio.Event()
    """Set once every child has stopped: the progress lines then show where runs got to."""
    progress = asyncio.create_task(
        show_progress(DatabaseSettings.from_env(env), console, stopped))
    completed = True
    if options.demo:
        demo = asyncio.create_task(_demo(options, env, console))
        await asyncio.wait({demo, running}, return_when=asyncio.FIRST_COMPLETED)
        if demo.done():
            completed = demo.result()
            if options.once:
                stop.set()
        else:
            demo.cancel()
    await running
    stopped.set()
    await progress
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(signum)
    if supervisor.failed is not None:
        return CONFIGURATION_ERROR
    return 0 if completed else 1


def main(options: DevOptions, environ: Mapping[str, str] = os.environ) -> int:
    return asyncio.run(run_dev(options, environ))
