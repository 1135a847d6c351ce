"""The trainer's ``/healthz`` and ``/metrics``, on a port of their own
(``TRAINBRIDGE_TRAINER_METRICS_PORT``), served from a thread by the standard library's WSGI
server as prometheus-client serves the reporter's ``/metrics``.

``/healthz`` answers 200 only while the trainer can take work, and 503 (with the failing
checks) otherwise:

- ``stopping``: it is not shutting down;
- ``consumer``: its consumer is subscribed to the trainer queue (it is not, while RabbitMQ is
  unreachable and before the first subscription);
- ``worker``: the training worker's loop (claim a job, train it, record the outcome) is
  running;
- ``event_loop``: the event loop all of these share answers within ``loop_timeout``: the
  checks themselves run on it, so a loop that something blocks reads 503 instead of being
  vouched for by the server's thread.

It costs no query and no broker round trip. A database outage does not make it 503: the
worker and the consumer wait it out (they log it), and a restart would not help. It is served
once the trainer has started (reached its database and broker): before, the port refuses
connections.

A readiness signal, not a liveness one: during a RabbitMQ outage it answers 503 while the
worker goes on training the jobs it has claimed, so a probe that restarts the trainer on 503
(a Kubernetes livenessProbe) would kill that training. Compose only marks the container
unhealthy."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
from collections.abc import Iterable
from typing import Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from eventlog.errors import MisconfiguredError
from services.trainer.settings import TrainerSettings

logger = logging.getLogger(__name__)


class Subscribed(Protocol):
    """What ``/healthz`` reads of the consumer (``EventConsumer`` has both)."""

    @property
    def queue_name(self) -> str: ...

    consuming: asyncio.Event


class TrainerHealth:
    """Create it on the event loop it watches; ``report`` may be called from any thread."""

    def __init__(self, stop: asyncio.Event, consumer: Subscribed, *,
                 loop_timeout: float = 2.0) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = stop
        self._consumer = consumer
        self._loop_timeout = loop_timeout
        self.worker: asyncio.Future[None] | None = None
        """The training worker's task, once it is started."""

    def problems(self) -> dict[str, str | None]:
        """Each check's problem (``None``: fine). On the event loop only."""
        worker = self.worker
        return {
            "stopping": "shutting down" if self._stop.is_set() else None,
            "consumer": None if self._consumer.consuming.is_set() else
            f"not subscribed to {self._consumer.queue_name} (waiting for RabbitMQ)",
            "worker": "not started yet" if worker is None else
            "stopped" if worker.done() else None,
        }

    def report(self) -> dict[str, str | None]:
        """``problems()``, run on the event loop, plus whether the loop answered at all."""
        answer: concurrent.futures.Future[dict[str, str | None]] = concurrent.futures.Future()

        def check() -> None:
            if answer.set_running_or_notify_cancel():
                try:
                    answer.set_result(self.problems())
                except Exception as exc:  # reported as such, not as a silent loop
                    answer.set_exception(exc)

        try:
            self._loop.call_soon_threadsafe(check)
        except RuntimeError:  # the loop is closed
            return {"event_loop": "closed"}
        try:
            return {**answer.result(timeout=self._loop_timeout), "event_loop": None}
        except TimeoutError:
            answer.cancel()
            return {"event_loop": f"did not answer within {self._loop_timeout:g} s"}
        except Exception as exc:
            return {"event_loop": None, "checks": f"failed: {exc!r}"}


def health_app(health: TrainerHealth, registry: CollectorRegistry) -> WSGIApplication:
    metrics: WSGIApplication = make_wsgi_app(registry)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics(environ, start_response)
        if path != "/healthz":
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"/healthz or /metrics\n"]
        checks = health.report()
        ok = all(problem is None for problem in checks.values())
        body = json.dumps({"status": "ok" if ok else "unavailable",
                           "checks": {name: problem or "ok"
                                      for name, problem in checks.items()}}).encode()
        start_response("200 OK" if ok else "503 Service Unavailable",
                       [("Content-Type", "application/json"),
                        ("Content-Length", str(len(body)))])
        return [body]

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Not a log line per probe."""


def serve_health(trainer: TrainerSettings, health: TrainerHealth,
                 registry: CollectorRegistry) -> WSGIServer:
    """Serve ``/healthz`` and ``/metrics`` until ``shutdown()``; a port already taken is a
    configuration error (one line, exit 2)."""
    try:
        server = make_server(trainer.metrics_host, trainer.metrics_port,
                             health_app(health, registry), ThreadingWSGIServer, _QuietHandler)
    except OSError as exc:
        raise MisconfiguredError(
            f"TRAINBRIDGE_TRAINER_METRICS_PORT={trainer.metrics_port}: cannot serve /healthz "
            f"and /metrics on {trainer.metrics_host}:{trainer.metrics_port} ({exc.strerror}); "
            "another trainer on this host? Choose a free port (--metrics-port), or 0 to turn "
            "them off") from None
    threading.Thread(target=server.serve_forever, args=(0.1,), name="trainer-health",
                     daemon=True).start()  # polls for shutdown() every 0.1 s
    logger.info("trainer /healthz and /metrics on %s:%d", trainer.metrics_host,
                server.server_port)
    return server
