"""The OpenTelemetry side of :mod:`eventlog.telemetry` (the ``otel`` extra), imported only
once tracing is on: one tracer provider per process (resource ``service.name``), spans
batched to the OTLP/HTTP exporter, and the maintained instrumentations of the libraries the
services use: asyncpg (a span per statement), aio-pika (a producer span per publish, a
consumer span per delivery, the context carried in the message headers) and requests (the
Labelbox SDK's HTTP calls, in the reporter). Litestar's own plugin traces ingest's requests
(services/ingest/tracing.py).

Sampling: a trace is kept whole or not at all (parent-based). A span with no parent is
kept unless it is a client span: the statements and HTTP calls of background loops (the
relay's polls, the sweeps) would otherwise each start a trace of their own."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.metadata import version

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.aio_pika import AioPikaInstrumentor
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, StatusCode, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes

from eventlog.telemetry import SpanKind as Kind
from eventlog.tracing import valid_traceparent

_KINDS: dict[Kind, SpanKind] = {
    "internal": SpanKind.INTERNAL, "server": SpanKind.SERVER, "client": SpanKind.CLIENT,
    "producer": SpanKind.PRODUCER, "consumer": SpanKind.CONSUMER,
}


class RootsButNotClients(Sampler):
    """For spans without a parent: keep each, but a client span's (a statement or an HTTP
    call made outside any traced work)."""

    def should_sample(
        self, parent_context: Context | None, trace_id: int, name: str,
        kind: SpanKind | None = None, attributes: Attributes = None,
        links: Sequence[Link] | None = None, trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if kind is SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "RootsButNotClients"


def _instrumentors() -> list[BaseInstrumentor]:
    found: list[BaseInstrumentor] = [
        AsyncPGInstrumentor(),  # type: ignore[no-untyped-call]
        AioPikaInstrumentor(),
    ]
    if importlib.util.find_spec("requests") is not None:  # the reporter's (Labelbox SDK)
        from opentelemetry.instrumentation.requests import RequestsInstrumentor

        found.append(RequestsInstrumentor())
    return found


class OtelTracer:
    def __init__(self, provider: TracerProvider, instrumentors: list[BaseInstrumentor]) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("trainbridge", version("trainbridge"))
        self._instrumentors = instrumentors
        self._propagator = TraceContextTextMapPropagator()

    @classmethod
    def start(cls, service_name: str, endpoint: str | None,
              exporter: SpanExporter | None = None) -> OtelTracer:
        """Spans to ``endpoint`` in batches, or to ``exporter`` one by one (tests)."""
        provider = TracerProvider(
            resource=Resource.create({"service.name": service_name,
                                      "service.version": version("trainbridge")}),
            sampler=ParentBased(root=RootsButNotClients()))
        if exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        else:
            assert endpoint is not None
            provider.add_span_processor(BatchSpanProcessor(
                OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")))
        instrumentors = _instrumentors()
        for instrumentor in instrumentors:
            instrumentor.instrument(tracer_provider=provider)
        return cls(provider, instrumentors)

    def _context_of(self, traceparent: str | None) -> Context | None:
        valid = valid_traceparent(traceparent)
        return None if valid is None else self._propagator.extract({"traceparent": valid})

    @contextmanager
    def span(self, name: str, kind: Kind, cause: str | None,
             attributes: Mapping[str, str | int]) -> Iterator[None]:
        with self._tracer.start_as_current_span(name, context=self._context_of(cause),
                                                kind=_KINDS[kind], attributes=dict(attributes)):
            yield

    def started(self, name: str, attributes: Mapping[str, str | int]) -> Callable[[bool], None]:
        span = self._tracer.start_span(name, attributes=dict(attributes))

        def end(failed: bool) -> None:
            if failed:
                span.set_status(StatusCode.ERROR)
            span.end()

        return end

    @contextmanager
    def continuing(self, traceparent: str | None) -> Iterator[None]:
        context = self._context_of(traceparent)
        token = None if context is None else otel_context.attach(context)
        try:
            yield
        finally:
            if token is not None:
                otel_context.detach(token)

    def current_traceparent(self) -> str | None:
        current = trace.get_current_span().get_span_context()
        if not current.is_valid:
            return None
        return f"00-{current.trace_id:032x}-{current.span_id:016x}-{current.trace_flags:02x}"

    def flush(self) -> None:
        self.provider.force_flush()

    def shutdown(self) -> None:
        """Undo the instrumentations, then export what is still buffered."""
        for instrumentor in self._instrumentors:
            instrumentor.uninstrument()
        self.provider.shutdown()

