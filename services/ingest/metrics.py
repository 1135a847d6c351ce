"""Prometheus metrics of one ingest process (its own registry: nothing global at import)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import Counter, Histogram, generate_latest

from eventlog.metrics import OutboxBacklog, service_registry

ASGIApp = Callable[[dict[str, Any], Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]],
                   Awaitable[None]]


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = service_registry()
        self.requests = Counter(
            "trainbridge_ingest_requests", "HTTP requests by route and status",
            ["route", "method", "status"], registry=self.registry,
        )
        self.signature_failures = Counter(
            "trainbridge_ingest_signature_failures", "Requests refused for a missing or bad "
            "signature", registry=self.registry,
        )
        self.events_appended = Counter(
            "trainbridge_ingest_events_appended", "TrainingRequested events appended",
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "trainbridge_ingest_request_duration_seconds",
            "Duration of one HTTP request, by route and status", ["route", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.relay_backlog = OutboxBacklog(self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def counting_requests(app: ASGIApp, metrics: IngestMetrics) -> ASGIApp:
    """Wrap the whole application, so even unmatched routes (404) are counted and timed.
    Each (route, method, status)'s counter and histogram are looked up once, not per
    request (``labels()`` validates and locks every time)."""
    series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(route: str, method: str, status: int, seconds: float) -> None:
        found = series.get((route, method, status))
        if found is None:
            found = series[(route, method, status)] = (
                metrics.requests.labels(route, method, str(status)),
                metrics.request_seconds.labels(route, str(status)),
            )
        found[0].inc()
        found[1].observe(seconds)

    async def wrapped(
        scope: dict[str, Any],
        receive: Callable[..., Awaitable[Any]],
        send: Callable[..., Awaitable[Any]],
    ) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def capture(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await app(scope, receive, capture)
        finally:
            observe(scope.get("path_template") or "unmatched", scope.get("method", ""), status,
                    time.perf_counter() - started)

    return wrapped
