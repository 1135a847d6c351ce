"""One redaction for every log line, traceback and error message."""

from __future__ import annotations

import json
import logging

from eventlog.json_logs import JsonFormatter
from eventlog.redaction import RedactingFilter


def record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("test", logging.ERROR, __file__, 1, message, args, exc_info)


def test_a_log_line_is_masked_in_its_arguments_and_its_traceback() -> None:
    try:
        raise ConnectionError("cannot reach postgresql://app@db/tb?password=S3cretQ")
    except ConnectionError as exc:
        line = record("connecting to %s with key %s", "amqp://u:S3cretU@mq/", "ApiKey-123",
                      exc=exc)
    redacting = RedactingFilter(["ApiKey-123"])

    assert redacting.filter(line)
    shown = json.loads(JsonFormatter().format(line))

    assert shown["message"] == "connecting to amqp://u:***@mq/ with key ***"
    assert "postgresql://app@db/tb?password=***" in shown["exception"]
    assert "S3cret" not in json.dumps(shown)


def test_plain_text_logs_are_masked_too() -> None:
    line = record("migrating %s", "postgresql://app:S3cretU@db/tb")
    RedactingFilter().filter(line)
    formatted = logging.Formatter("%(levelname)s %(message)s").format(line)
    assert formatted == "ERROR migrating postgresql://app:***@db/tb"
