"""Prometheus metrics of one ingest process (its own registry: nothing global at import)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

ASGIApp = Callable[[dict[str, Any], Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]],
                   Awaitable[None]]


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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
        self.relay_backlog = Gauge(
            "trainbridge_outbox_backlog", "Events not yet confirmed by RabbitMQ",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


def counting_requests(app: ASGIApp, metrics: IngestMetrics) -> ASGIApp:
    """Wrap the whole application, so even unmatched routes (404) are counted."""

    async def wrapped(
        scope: dict[str, Any],
        receive: Callable[..., Awaitable[Any]],
        send: Callable[..., Awaitable[Any]],
    ) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        status = 500

        async def capture(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await app(scope, receive, capture)
        finally:
            route = scope.get("path_template") or "unmatched"
            metrics.requests.labels(route, scope.get("method", ""), str(status)).inc()

    return wrapped
