"""One JSON object per log line, with the model run id and correlation id of the run being
served (set per request in ingest, per delivery in every consumer)."""

from __future__ import annotations

import contextvars
import json
import logging
from datetime import UTC, datetime

model_run_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "model_run_id", default=None
)
correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)
"""The webhook's correlation id, on every line any service logs about that run."""


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
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


def use_json_logs(level: str = "INFO", redacting: logging.Filter | None = None) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    if redacting is not None:
        handler.addFilter(redacting)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
