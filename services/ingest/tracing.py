"""Ingest's requests as server spans, with tracing on (eventlog.telemetry): Litestar's own
OpenTelemetry plugin, on the process's tracer provider. The health and schema endpoints
are not traced (a healthcheck every few seconds would be a trace every few seconds)."""

from __future__ import annotations

from typing import Any

from eventlog import telemetry

UNTRACED_PATHS = ["/healthz", "/readyz", "/schema"]


def tracing_plugins() -> list[Any]:
    """Litestar's OpenTelemetry plugin while tracing is on; none (and no import of
    opentelemetry) while it is off."""
    provider = telemetry.tracer_provider()
    if provider is None:
        return []
    from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin

    return [OpenTelemetryPlugin(OpenTelemetryConfig(
        tracer_provider=provider,  # type: ignore[arg-type]
        exclude=UNTRACED_PATHS,
        exclude_spans=["receive", "send"]))]  # one span per request, not three
