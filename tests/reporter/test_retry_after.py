"""Labelbox's ``Retry-After`` (seconds or an HTTP date, on a 429 or a 503) is waited, with
the backoff on top, within the call's deadline, and each attempt's audit row says what was asked."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from services.reporter.faults import parse_retry_after
from tests.reporter.conftest import Reporter, sample_rows

RUN = "retry-after-1"


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 120 ") == 120.0
    assert parse_retry_after("Sat, 28 Nov 2026 12:00:05 GMT", now) == 5.0
    assert parse_retry_after("Sat, 28 Nov 2026 11:00:00 GMT", now) == 0.0  # already past
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None) is None


async def status_attempts(reporter: Reporter) -> list[tuple[str, dict | None, float, float]]:
    return [(c["outcome"], c["response"], c["started_at"].timestamp(), c["ended_at"].timestamp())
            for c in await reporter.audit(RUN) if c["sdk_method"] == "ModelRun.update_status"]


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_seconds_delays_each_retry_and_is_audited(
    reporter: Reporter, status: int,
) -> None:
    control = reporter.fake.control
    control.add_model_run(RUN, data_rows=sample_rows(RUN, 4))
    control.add_fault("setPipelineStatusPyApi", model_run_id=RUN, status=status,
                      retry_after=1, times=2)
    await reporter.request_training(RUN)

    await asyncio.wait_for(reporter.reconcile(RUN), 30)

    assert control.statuses(RUN) == ["EXPORTING_DATA"]
    attempts = await status_attempts(reporter)
    assert [(a[0], a[1]) for a in attempts] == [
        ("retryable_error", {"retryAfterSeconds": 1.0}),
        ("retryable_error", {"retryAfterSeconds": 1.0}), ("ok", None)]
    gaps = [later[2] - earlier[3] for earlier, later in itertools.pairwise(attempts)]
    assert all(gap >= 0.99 for gap in gaps), gaps  # the test's backoff alone is ~0.01 s


async def test_retry_after_as_an_http_date_delays_the_retry_until_then(
    reporter: Reporter,
) -> None:
    control = reporter.fake.control
    control.add_model_run(RUN, data_rows=sample_rows(RUN, 4))
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    control.add_fault("setPipelineStatusPyApi", model_run_id=RUN, status=429,
                      retry_after=format_datetime(until, usegmt=True), times=1)
    await reporter.request_training(RUN)

    await asyncio.wait_for(reporter.reconcile(RUN), 30)

    first, second = await status_attempts(reporter)
    assert first[0] == "retryable_error" and 0 < first[1]["retryAfterSeconds"] <= 2
    assert second[0] == "ok"
    assert second[2] >= until.timestamp() - 0.01


async def test_a_retry_after_past_the_calls_deadline_ends_the_call_at_once_and_parks(
    reporter: Reporter,
) -> None:
    control = reporter.fake.control
    control.add_model_run(RUN, data_rows=sample_rows(RUN, 4))
    control.add_fault("setPipelineStatusPyApi", model_run_id=RUN, status=429,
                      retry_after=3600)
    await reporter.request_training(RUN)

    started = time.monotonic()
    await asyncio.wait_for(reporter.reconcile(RUN), 30)

    assert time.monotonic() - started < 5
    [parked] = await reporter.ledger_rows(RUN)
    assert parked["state"] == "parked"
    assert "retry after 3600 s" in parked["error"]
    [(outcome, response, _, _)] = await status_attempts(reporter)
    assert (outcome, response) == ("retryable_error", {"retryAfterSeconds": 3600.0})
