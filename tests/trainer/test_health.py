"""The trainer's ``/healthz`` answers 200 only while the trainer can take work (not stopping,
subscribed to its queue, worker running, event loop answering) and 503 naming what is wrong
otherwise; ``/metrics`` serves its registry. The consumer is a fake (an event and a queue
name); the server is the real one, on a port of its own."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIServer

import pytest

from eventlog.errors import MisconfiguredError
from services.trainer.health import TrainerHealth, serve_health
from services.trainer.metrics import TrainerMetrics
from services.trainer.settings import TrainerSettings


@dataclass
class FakeConsumer:
    queue_name: str = "trainbridge.trainer"
    consuming: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Trainer:
    stop: asyncio.Event
    consumer: FakeConsumer
    health: TrainerHealth
    metrics: TrainerMetrics
    server: WSGIServer

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    async def get(self, path: str) -> tuple[int, str]:
        """From a thread, as a prober would: the checks need this event loop free."""
        return await asyncio.to_thread(fetch, self.url(path))

    async def healthz(self) -> tuple[int, dict[str, str]]:
        status, body = await self.get("/healthz")
        return status, json.loads(body)["checks"]

    def working(self) -> None:
        self.consumer.consuming.set()
        self.health.worker = asyncio.get_running_loop().create_future()


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def settings(port: int) -> TrainerSettings:
    return TrainerSettings(artifacts_url="file:///unused", metrics_host="127.0.0.1",
                           metrics_port=port)


@pytest.fixture
async def trainer() -> AsyncIterator[Trainer]:
    stop, consumer, metrics = asyncio.Event(), FakeConsumer(), TrainerMetrics()
    health = TrainerHealth(stop, consumer, loop_timeout=0.2)
    server = serve_health(settings(0), health, metrics.registry)  # 0: any free port
    try:
        yield Trainer(stop, consumer, health, metrics, server)
    finally:
        server.shutdown()
        server.server_close()


async def test_healthz_is_200_while_the_trainer_consumes_and_its_worker_runs(
    trainer: Trainer,
) -> None:
    trainer.working()

    status, checks = await trainer.healthz()

    assert status == 200
    assert checks == {"stopping": "ok", "consumer": "ok", "worker": "ok", "event_loop": "ok"}


async def test_healthz_is_503_while_the_consumer_is_not_subscribed(trainer: Trainer) -> None:
    trainer.working()
    trainer.consumer.consuming.clear()  # RabbitMQ went away

    status, checks = await trainer.healthz()

    assert status == 503
    assert checks["consumer"] == "not subscribed to trainbridge.trainer (waiting for RabbitMQ)"
    assert checks["worker"] == "ok"


async def test_healthz_is_503_before_the_worker_starts_and_after_it_stops(
    trainer: Trainer,
) -> None:
    trainer.consumer.consuming.set()
    assert (await trainer.healthz()) == (503, {
        "stopping": "ok", "consumer": "ok", "worker": "not started yet", "event_loop": "ok"})

    trainer.working()
    assert trainer.health.worker is not None
    trainer.health.worker.set_result(None)
    status, checks = await trainer.healthz()

    assert status == 503
    assert checks["worker"] == "stopped"


async def test_healthz_is_503_while_the_trainer_shuts_down(trainer: Trainer) -> None:
    trainer.working()
    trainer.stop.set()

    status, checks = await trainer.healthz()

    assert status == 503
    assert checks["stopping"] == "shutting down"


async def test_healthz_is_503_while_the_event_loop_is_blocked(trainer: Trainer) -> None:
    trainer.working()
    probing = threading.Event()
    report = trainer.health.report

    def report_once_probing() -> dict[str, str | None]:
        probing.set()
        return report()

    trainer.health.report = report_once_probing  # type: ignore[method-assign]
    probe = asyncio.ensure_future(trainer.get("/healthz"))
    await asyncio.sleep(0)  # the probe's thread is on its way
    # What a blocking call on the event loop does: the loop is stuck from before the probe
    # asks it until well after the probe's 0.2 s are up.
    assert probing.wait(timeout=10)
    time.sleep(0.5)  # noqa: ASYNC251

    status, body = await probe

    assert status == 503
    assert json.loads(body)["checks"] == {"event_loop": "did not answer within 0.2 s"}
    assert (await trainer.healthz())[0] == 200  # and well again once the loop answers


async def test_metrics_serves_the_job_counters(trainer: Trainer) -> None:
    trainer.metrics.jobs_claimed.inc()
    trainer.metrics.jobs_finished.labels(result="succeeded").inc()

    status, page = await trainer.get("/metrics")

    assert status == 200
    assert "trainbridge_trainer_jobs_claimed_total 1.0" in page
    assert 'trainbridge_trainer_jobs_finished_total{result="succeeded"} 1.0' in page
    assert 'trainbridge_trainer_jobs_finished_total{result="failed"} 0.0' in page
    assert (await trainer.get("/elsewhere"))[0] == 404


async def test_a_port_already_taken_is_a_configuration_error_naming_the_setting() -> None:
    health = TrainerHealth(asyncio.Event(), FakeConsumer())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MisconfiguredError) as refused:
            serve_health(settings(port), health, TrainerMetrics().registry)

    assert str(refused.value) == (
        f"TRAINBRIDGE_TRAINER_METRICS_PORT={port}: cannot serve /healthz and /metrics on "
        f"127.0.0.1:{port} (Address already in use); another trainer on this host? Choose a "
        "free port (--metrics-port), or 0 to turn them off")
