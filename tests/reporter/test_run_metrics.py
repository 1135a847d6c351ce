"""What the reporter's metrics say about runs and Labelbox, through the real SDK against the
fake Labelbox: each run's final status is counted once with its duration, by status, and
each 429 answer is counted (other errors are not)."""

from __future__ import annotations

import asyncio

from tests.reporter.conftest import Reporter, sample_rows


def finished(reporter: Reporter, status: str) -> float | None:
    return reporter.metrics.registry.get_sample_value(
        "trainbridge_reporter_run_duration_seconds_count", {"status": status})


def rate_limited(reporter: Reporter) -> float | None:
    return reporter.metrics.registry.get_sample_value(
        "trainbridge_reporter_labelbox_rate_limited_total")


async def test_a_run_shown_complete_is_counted_once_with_its_duration(
    reporter: Reporter,
) -> None:
    control = reporter.fake.control
    control.add_model_run("run-1", data_rows=sample_rows("run-1", 6))
    assert (finished(reporter, "COMPLETE"), finished(reporter, "FAILED")) == (0, 0)
    await reporter.request_training("run-1")
    await reporter.reconcile("run-1")
    assert finished(reporter, "COMPLETE") == 0  # acknowledged and exported, not finished

    await reporter.train("run-1")
    await reporter.reconcile("run-1")
    await reporter.reconcile("run-1")  # nothing left to deliver: not counted again

    assert control.statuses("run-1")[-1] == "COMPLETE"
    assert (finished(reporter, "COMPLETE"), finished(reporter, "FAILED")) == (1, 0)
    seconds = reporter.metrics.registry.get_sample_value(
        "trainbridge_reporter_run_duration_seconds_sum", {"status": "COMPLETE"})
    stream = await reporter.store.read_stream("model_run-run-1")
    assert seconds is not None
    assert 0 < seconds <= (stream[-1].recorded_at - stream[0].recorded_at).total_seconds() + 60


async def test_a_run_shown_failed_is_counted_under_failed(reporter: Reporter) -> None:
    control = reporter.fake.control
    control.add_model_run("run-2", data_rows=sample_rows("run-2", 4))
    control.set_export_behaviour("run-2", fail=True)
    await reporter.request_training("run-2")
    await reporter.reconcile("run-2")

    assert control.statuses("run-2") == ["EXPORTING_DATA", "FAILED"]
    assert (finished(reporter, "COMPLETE"), finished(reporter, "FAILED")) == (0, 1)


async def test_each_429_answer_is_counted_and_a_503_is_not(reporter: Reporter) -> None:
    control = reporter.fake.control
    control.add_model_run("run-3", data_rows=sample_rows("run-3", 4))
    control.add_fault("setPipelineStatusPyApi", model_run_id="run-3", status=503, times=1)
    control.add_fault("setPipelineStatusPyApi", model_run_id="run-3", status=429, times=2)
    assert rate_limited(reporter) == 0
    await reporter.request_training("run-3")

    await asyncio.wait_for(reporter.reconcile("run-3"), 30)

    statuses = [c["outcome"] for c in await reporter.audit("run-3")
                if c["sdk_method"] == "ModelRun.update_status"]
    assert statuses[:4] == ["retryable_error"] * 3 + ["ok"]
    assert rate_limited(reporter) == 2
