"""Spans, optional. Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set: then :func:`tracing`,
entered once by each service's command, loads :mod:`eventlog.otel` (the ``otel`` extra) and
every :func:`span` is exported over OTLP/HTTP; off, each is a no-op and this module never
imports opentelemetry.

The code that makes spans calls the functions here, as it logs through ``logging``: one
tracer per process, installed at start-up and flushed as the service stops. Spans follow
the ``traceparent`` each event carries (see :mod:`eventlog.tracing`): an event appended
inside a span carries that span's context (:func:`current_traceparent`), so one webhook's
spans form one tree across the three services."""

from __future__ import annotations

import contextvars
import functools
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from eventlog.errors import MisconfiguredError
from eventlog.redaction import redact
from eventlog.settings import OTLP_ENDPOINT

T = TypeVar("T")
SpanKind = Literal["internal", "server", "client", "producer", "consumer"]


@dataclass(frozen=True)
class TracingSettings:
    endpoint: str | None = None
    """The OTLP/HTTP collector (``OTEL_EXPORTER_OTLP_ENDPOINT``); ``None``: tracing off."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> TracingSettings:
        return cls(endpoint=OTLP_ENDPOINT.read(environ))

    @property
    def shown(self) -> str:
        """For the line a service logs as it starts: the endpoint (redacted), or ``off``."""
        return "off" if self.endpoint is None else redact(self.endpoint)


class Tracer(Protocol):
    """What :mod:`eventlog.otel` provides once tracing is on."""

    def span(self, name: str, kind: SpanKind, cause: str | None,
             attributes: Mapping[str, str | int]) -> AbstractContextManager[None]: ...
    def started(self, name: str, attributes: Mapping[str, str | int]) -> Callable[[bool], None]:
        """A span started as the current span's child (not made current itself); the
        function returned ends it (``True``: failed)."""
    def continuing(self, traceparent: str | None) -> AbstractContextManager[None]: ...
    def current_traceparent(self) -> str | None: ...
    def flush(self) -> None: ...
    def shutdown(self) -> None: ...


_tracer: Tracer | None = None


def span(name: str, *, kind: SpanKind = "internal", cause: str | None = None,
         attributes: Mapping[str, str | int] | None = None) -> AbstractContextManager[None]:
    """A span around the block, the child of ``cause`` (a traceparent, usually an event's)
    when given, else of the current span."""
    if _tracer is None:
        return nullcontext()
    return _tracer.span(name, kind, cause, attributes or {})


def continuing(traceparent: str | None) -> AbstractContextManager[None]:
    """Make ``traceparent`` the current context for the block, so what an instrumented
    library starts in it (an aio-pika publish) is its child."""
    if _tracer is None:
        return nullcontext()
    return _tracer.continuing(traceparent)


def current_traceparent() -> str | None:
    """The traceparent of the current span; ``None`` with tracing off or outside a span."""
    return None if _tracer is None else _tracer.current_traceparent()


class SpanSequence:
    """Back-to-back spans, each ended as the next starts (a run's stages), children of the
    span current when each starts."""

    def __init__(self) -> None:
        self._end: Callable[[bool], None] | None = None

    def next(self, name: str, attributes: Mapping[str, str | int] | None = None) -> None:
        self.end()
        if _tracer is not None:
            self._end = _tracer.started(name, attributes or {})

    def end(self, *, failed: bool = False) -> None:
        if self._end is not None:
            end, self._end = self._end, None
            end(failed)


def flush() -> None:
    """Export the spans still buffered, now: for a process that its own signal ends before
    :func:`tracing`'s block does (uvicorn re-raises SIGTERM once it has shut down)."""
    if _tracer is not None:
        _tracer.flush()


def in_this_context(function: Callable[[], T]) -> Callable[[], T]:
    """``function``, to run in a worker thread within the current span (threads do not
    inherit it); ``function`` itself with tracing off."""
    if _tracer is None:
        return function
    return functools.partial(contextvars.copy_context().run, function)


@contextmanager
def tracing(settings: TracingSettings, service: str, *, exporter: Any = None) -> Iterator[None]:
    """Tracing on for the block, as ``trainbridge-<service>``, when ``settings`` name an
    endpoint (or a test passes an ``exporter``, e.g. the SDK's ``InMemorySpanExporter``);
    the spans still buffered are exported as the block ends. Without the ``otel`` extra, a
    set endpoint is a configuration error."""
    global _tracer
    if settings.endpoint is None and exporter is None:
        yield
        return
    try:
        from eventlog import otel
    except ImportError as exc:
        raise MisconfiguredError(
            f"{OTLP_ENDPOINT.name} is set but OpenTelemetry is not installed ({exc.name} is "
            "missing): install the `otel` extra (pip install 'trainbridge[otel]', or build "
            f"the image with --build-arg TRACING=1), or unset {OTLP_ENDPOINT.name}") from None
    _tracer = otel.OtelTracer.start(f"trainbridge-{service}", settings.endpoint, exporter)
    try:
        yield
    finally:
        tracer, _tracer = _tracer, None
        tracer.shutdown()


def tracer_provider() -> object | None:
    """The SDK's tracer provider while tracing is on (for a framework's own integration:
    Litestar's OpenTelemetry plugin)."""
    return getattr(_tracer, "provider", None)
