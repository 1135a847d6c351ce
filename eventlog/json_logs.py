"""One JSON object per log line, with the model run id and correlation id of the run being
served (set per request in ingest, per delivery in every consumer); or, for people, one
readable line (time, level, service, model run, message)."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import TextIO

model_run_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "model_run_id", default=None
)
correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)
"""The webhook's correlation id, on every line any service logs about that run."""
trace_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace_id", default=None)
"""The trace id of the event being handled (its ``traceparent``'s), or of the request."""


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self.service = service
        """The process's service (``ingest``, ``trainer``, ``reporter``), on every line."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self.service is not None:
            line["service"] = self.service
        trace = trace_id.get()
        if trace is not None:
            line["trace_id"] = trace
        run = model_run_id.get()
        if run is not None:
            line["model_run_id"] = run
        correlation = correlation_id.get()
        if correlation is not None:
            line["correlation_id"] = correlation
        if record.exc_text:  # already formatted (and redacted) by the RedactingFilter
            line["exception"] = record.exc_text
        elif record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)


_LINE_BREAKS = re.compile(r"\s*\n\s*")


class TextFormatter(logging.Formatter):
    """``09:14:02.123 INFO    trainer    run-1  model_run-run-1: stage PREDICTING started``:
    the service is the package the logger belongs to (``services.trainer.worker`` →
    ``trainer``), the model run ``-`` outside of one. A message of several lines (Alembic's
    revision descriptions) is joined into one; only a traceback follows on lines of its
    own."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        parts = record.name.split(".")
        service = parts[1] if parts[0] == "services" and len(parts) > 1 else parts[0]
        message = _LINE_BREAKS.sub(" ", record.getMessage().strip())
        line = (f"{moment:%H:%M:%S}.{moment.microsecond // 1000:03d} {record.levelname:<7} "
                f"{service:<10} {model_run_id.get() or '-'}  {message}")
        if record.exc_text:  # already formatted (and redacted) by the RedactingFilter
            line += "\n" + record.exc_text
        elif record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def chosen_formatter(log_format: str, stream: TextIO,
                     service: str | None = None) -> logging.Formatter:
    """``TRAINBRIDGE_LOG_FORMAT``: ``TEXT`` or ``JSON``, or ``AUTO`` — text on a terminal."""
    if log_format == "TEXT" or (log_format == "AUTO" and stream.isatty()):
        return TextFormatter()
    return JsonFormatter(service)


def use_json_logs(level: str = "INFO", redacting: logging.Filter | None = None,
                  log_format: str = "JSON", stream: TextIO | None = None,
                  service: str | None = None) -> None:
    """Every log line to ``stream`` (stderr) in the format chosen (JSON by default), JSON
    lines naming ``service``."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(chosen_formatter(log_format, stream, service))
    if redacting is not None:
        handler.addFilter(redacting)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
