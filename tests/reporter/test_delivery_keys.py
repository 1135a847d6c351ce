"""The delivery key (``attempt-<n>/<what>``) is built and read in one place, and what it
builds it reads back."""

from __future__ import annotations

import pytest

from services.reporter.audit import CallContext
from services.reporter.delivery_keys import DeliveryKey, delivery_key, parse_delivery_key


def test_a_key_names_the_runs_attempt_and_what_is_delivered() -> None:
    assert delivery_key(2, "status/TRAINING_MODEL") == "attempt-2/status/TRAINING_MODEL"


@pytest.mark.parametrize("name", ["predictions", "status/COMPLETE", "export", "a/b/c"])
def test_every_key_built_reads_back_as_its_attempt_and_name(name: str) -> None:
    assert parse_delivery_key(delivery_key(12, name)) == DeliveryKey(12, name)


@pytest.mark.parametrize("key", ["", "attempt-/status", "attempt-0/status", "attempt-1",
                                 "attempt-1/", "attempt-x/status", "status/COMPLETE",
                                 " attempt-1/status"])
def test_a_key_of_another_format_is_refused(key: str) -> None:
    with pytest.raises(ValueError, match="not a delivery key"):
        parse_delivery_key(key)


@pytest.mark.parametrize(("attempt", "name"), [(0, "status"), (1, "")])
def test_no_key_is_built_for_a_missing_attempt_or_name(attempt: int, name: str) -> None:
    with pytest.raises(ValueError):
        delivery_key(attempt, name)


def test_a_call_is_made_for_the_attempt_its_delivery_key_names() -> None:
    CallContext("r", "model_run-r", "status", run_attempt=2, delivery_key="attempt-2/export")
    with pytest.raises(ValueError, match="run attempt 1 is not attempt-2/export's"):
        CallContext("r", "model_run-r", "status", run_attempt=1,
                    delivery_key="attempt-2/export")
