"""``TRAINBRIDGE_LOG_FORMAT``: JSON lines for machines, one readable line for people (on a
terminal, or under ``trainbridge dev``), each with the model run being served."""

from __future__ import annotations

import io
import json
import logging

import pytest

from eventlog import json_logs
from eventlog.json_logs import JsonFormatter, TextFormatter, chosen_formatter, use_json_logs
from eventlog.settings import SettingsError, log_format
from trainbridge.dev import DevOptions, dev_environment


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def record(name: str, message: str, *args: object) -> logging.LogRecord:
    made = logging.LogRecord(name, logging.INFO, __file__, 1, message, args, None)
    made.created = 1_795_000_000.25  # 2026-11-18 11:06:40.250 UTC
    return made


def test_a_text_line_shows_time_level_service_model_run_and_message() -> None:
    token = json_logs.model_run_id.set("run-1")
    try:
        line = TextFormatter().format(record(
            "services.trainer.worker", "%s: stage %s started", "model_run-run-1", "PREDICTING"))
    finally:
        json_logs.model_run_id.reset(token)

    assert line == ("11:06:40.250 INFO    trainer    run-1  "
                    "model_run-run-1: stage PREDICTING started")
    assert TextFormatter().format(record("eventlog.relay", "relay started")) == (
        "11:06:40.250 INFO    eventlog   -  relay started")


def test_auto_is_text_on_a_terminal_and_json_elsewhere() -> None:
    assert isinstance(chosen_formatter("AUTO", Terminal()), TextFormatter)
    assert isinstance(chosen_formatter("AUTO", io.StringIO()), JsonFormatter)
    assert isinstance(chosen_formatter("TEXT", io.StringIO()), TextFormatter)
    assert isinstance(chosen_formatter("JSON", Terminal()), JsonFormatter)


def test_the_setting_is_read_in_any_case_and_defaults_to_auto() -> None:
    assert log_format({}) == "AUTO"
    assert log_format({"TRAINBRIDGE_LOG_FORMAT": "text"}) == "TEXT"
    with pytest.raises(SettingsError, match="expected one of AUTO, JSON, TEXT"):
        log_format({"TRAINBRIDGE_LOG_FORMAT": "pretty"})


def test_services_under_trainbridge_dev_log_text_unless_told_otherwise() -> None:
    assert dev_environment(DevOptions(), {})["TRAINBRIDGE_LOG_FORMAT"] == "text"
    assert dev_environment(DevOptions(), {"TRAINBRIDGE_LOG_FORMAT": "json"}
                           )["TRAINBRIDGE_LOG_FORMAT"] == "json"


def test_the_chosen_format_is_what_every_log_line_uses() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    out = io.StringIO()
    try:
        use_json_logs("INFO", log_format="JSON", stream=out)
        logging.getLogger("services.reporter").info("delivered")
        use_json_logs("INFO", log_format="TEXT", stream=out)
        logging.getLogger("services.reporter").info("delivered")
    finally:
        root.handlers[:], root.level = handlers, level

    as_json, as_text = out.getvalue().splitlines()
    assert json.loads(as_json)["message"] == "delivered"
    assert as_text.endswith(" INFO    reporter   -  delivered")
