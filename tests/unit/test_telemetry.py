"""Spans, optional (eventlog.telemetry): off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set,
without opentelemetry imported at all; on, each span continues the trace of the event that
caused it, and an event appended in a span carries that span's context. Checked with the
SDK's in-memory exporter."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from eventlog import caused_event, telemetry
from eventlog.settings import SettingsError
from eventlog.telemetry import TracingSettings
from eventlog.tracing import child_traceparent

TRACE, SPAN = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
PARENT = f"00-{TRACE}-{SPAN}-01"


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    with telemetry.tracing(TracingSettings(), "trainer", exporter=exporter):
        yield exporter


def event_caused_by(traceparent: str) -> dict[str, object]:
    event_id = uuid.uuid4()
    event = caused_event("StageStarted", {}, producer="trainer", event_id=event_id,
                         correlation_id=None, traceparent=traceparent)
    return {"traceparent": event.metadata["traceparent"],
            "derived": child_traceparent(traceparent, event_id)}


def test_tracing_is_off_unless_the_endpoint_is_set() -> None:
    assert TracingSettings.from_env({}).endpoint is None
    assert TracingSettings.from_env({}).shown == "off"
    on = TracingSettings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert on.endpoint == "http://collector:4318"
    with pytest.raises(SettingsError, match="OTEL_EXPORTER_OTLP_ENDPOINT=collector:4318"):
        TracingSettings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"})


def test_with_tracing_off_spans_do_nothing_and_events_keep_the_span_ids_they_derive() -> None:
    with telemetry.tracing(TracingSettings(), "trainer"), telemetry.span("train", cause=PARENT):
        assert telemetry.current_traceparent() is None
        made = event_caused_by(PARENT)
    assert made["traceparent"] == made["derived"]


def test_with_tracing_off_nothing_imports_opentelemetry() -> None:
    program = (
        "import sys\n"
        "from eventlog import telemetry\n"
        "import eventlog.consumer, eventlog.relay, services.ingest.app, services.trainer.worker\n"
        "import services.reporter.entrypoint, labelbox  # the SDK does not bring it either\n"
        "with telemetry.tracing(telemetry.TracingSettings.from_env({}), 'ingest'):\n"
        "    with telemetry.span('x', cause='00-" + TRACE + "-" + SPAN + "-01'):\n"
        "        services.ingest.app.tracing_plugins()\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_an_endpoint_without_the_otel_extra_is_a_configuration_error_not_a_traceback() -> None:
    program = (
        "import sys\n"
        "sys.modules['eventlog.otel'] = None  # as if the otel extra were not installed\n"
        "from trainbridge.cli import main\n"
        "sys.exit(main(['ingest', '--metrics-port', '0'], {\n"
        "    'TRAINBRIDGE_WEBHOOK_SECRET': 'secret',\n"
        "    'OTEL_EXPORTER_OTLP_ENDPOINT': 'http://127.0.0.1:4318'}))\n")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("trainbridge: configuration error: OTEL_EXPORTER_OTLP_ENDPOINT is "
                           "set but OpenTelemetry is not installed"), result.stderr
    assert "pip install 'trainbridge[otel]'" in last and "Traceback" not in result.stderr


def test_a_span_continues_the_trace_of_the_event_that_caused_it(
        exported: InMemorySpanExporter) -> None:
    with telemetry.span("deliver status", cause=PARENT,
                        attributes={"trainbridge.stream_id": "s-1"}):
        inside = telemetry.current_traceparent()
    (span,) = exported.get_finished_spans()
    assert span.context is not None and span.parent is not None
    assert (f"{span.context.trace_id:032x}", f"{span.parent.span_id:016x}") == (TRACE, SPAN)
    assert inside == f"00-{TRACE}-{span.context.span_id:016x}-01"
    assert span.resource.attributes["service.name"] == "trainbridge-trainer"
    assert span.attributes is not None and span.attributes["trainbridge.stream_id"] == "s-1"
    assert telemetry.current_traceparent() is None


def test_an_event_appended_in_a_span_carries_that_spans_context(
        exported: InMemorySpanExporter) -> None:
    with telemetry.span("process TrainingRequested", kind="consumer", cause=PARENT):
        made = event_caused_by(PARENT)
        current = telemetry.current_traceparent()
    assert made["traceparent"] == current != made["derived"]


def test_a_stage_span_is_a_child_of_the_span_it_starts_in_and_ends_as_the_next_starts(
        exported: InMemorySpanExporter) -> None:
    with telemetry.span("train ner", cause=PARENT):
        stages = telemetry.SpanSequence()
        stages.next("stage PREPARING_DATA")
        stages.next("stage TRAINING_MODEL")
        stages.end(failed=True)
    spans = {span.name: span for span in exported.get_finished_spans()}
    train = spans["train ner"].context
    assert train is not None
    for name in ("stage PREPARING_DATA", "stage TRAINING_MODEL"):
        parent = spans[name].parent
        assert parent is not None and parent.span_id == train.span_id
    assert spans["stage TRAINING_MODEL"].status.status_code is StatusCode.ERROR
    assert spans["stage PREPARING_DATA"].status.status_code is StatusCode.UNSET


def test_a_worker_thread_runs_in_the_span_only_when_handed_it(
        exported: InMemorySpanExporter) -> None:
    with ThreadPoolExecutor(1) as threads, telemetry.span("labelbox call", kind="client",
                                                          cause=PARENT):
        handed = threads.submit(telemetry.in_this_context(telemetry.current_traceparent))
        bare = threads.submit(telemetry.current_traceparent)
        assert handed.result() == telemetry.current_traceparent()
        assert bare.result() is None


def test_a_client_span_outside_any_trace_is_not_exported(
        exported: InMemorySpanExporter) -> None:
    with telemetry.span("SELECT outbox", kind="client"), telemetry.span("nested"):
        pass
    with telemetry.span("labelbox ModelRun.update_status", kind="client", cause=PARENT):
        pass
    assert [span.name for span in exported.get_finished_spans()] == [
        "labelbox ModelRun.update_status"]


def test_continuing_makes_an_events_context_current_for_the_block(
        exported: InMemorySpanExporter) -> None:
    with telemetry.continuing(PARENT):
        assert telemetry.current_traceparent() == PARENT
        with telemetry.span("publish"):
            pass
    assert telemetry.current_traceparent() is None
    (span,) = exported.get_finished_spans()
    assert span.parent is not None and f"{span.parent.span_id:016x}" == SPAN
