"""Trace context and correlation ids: one run can be followed across every service."""

from __future__ import annotations

import io
import json
import logging
import uuid

from eventlog import json_logs
from eventlog.tracing import (
    child_traceparent,
    new_traceparent,
    trace_id_of,
    valid_traceparent,
)

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_a_well_formed_traceparent_is_accepted_and_anything_else_is_not() -> None:
    assert valid_traceparent(PARENT) == PARENT
    assert valid_traceparent(PARENT.upper()) == PARENT
    for bad in (None, "", "00-xyz", "01-" + PARENT[3:], "00-" + "0" * 32 + "-b7ad6b7169203331-01",
                PARENT + "-extra"):
        assert valid_traceparent(bad) is None, bad


def test_an_event_continues_its_causes_trace_with_a_span_of_its_own() -> None:
    event_id = uuid.uuid4()
    child = child_traceparent(PARENT, event_id)
    assert child.split("-")[1] == PARENT.split("-")[1]  # same trace
    assert child.split("-")[2] == event_id.hex[:16]  # its own span, stable for a repeat
    assert child == child_traceparent(PARENT, event_id)
    assert valid_traceparent(child) == child


def test_without_a_parent_an_event_starts_a_trace() -> None:
    started = child_traceparent(None, uuid.uuid4())
    assert valid_traceparent(started) == started
    assert valid_traceparent(new_traceparent()) is not None


def test_log_lines_carry_the_run_and_its_correlation_id() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_logs.JsonFormatter())
    logger = logging.getLogger("test.tracing")
    logger.addHandler(handler)
    logger.propagate = False
    run_token = json_logs.model_run_id.set("run-7")
    correlation_token = json_logs.correlation_id.set("corr-7")
    try:
        logger.warning("delivered")
    finally:
        json_logs.model_run_id.reset(run_token)
        json_logs.correlation_id.reset(correlation_token)
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert (line["model_run_id"], line["correlation_id"], line["message"]) == (
        "run-7", "corr-7", "delivered")


def test_json_log_lines_name_the_service_and_the_trace_being_followed() -> None:
    formatter = json_logs.JsonFormatter(service="trainer")
    made = logging.LogRecord("services.trainer.worker", logging.INFO, __file__, 1, "trained",
                             (), None)
    token = json_logs.trace_id.set(trace_id_of(PARENT))
    try:
        line = json.loads(formatter.format(made))
    finally:
        json_logs.trace_id.reset(token)
    assert (line["service"], line["trace_id"]) == ("trainer", PARENT.split("-")[1])

    outside = json.loads(json_logs.JsonFormatter().format(made))
    assert "service" not in outside and "trace_id" not in outside


def test_the_trace_id_of_a_traceparent_is_its_second_field() -> None:
    assert trace_id_of(PARENT) == "0af7651916cd43dd8448eb211c80319c"
    assert trace_id_of("not-a-traceparent") is None and trace_id_of(None) is None


def test_the_services_json_lines_name_the_service() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        json_logs.use_json_logs("INFO", log_format="JSON", stream=stream, service="reporter")
        logging.getLogger("services.reporter.deliverer").info("delivered")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert json.loads(stream.getvalue())["service"] == "reporter"
