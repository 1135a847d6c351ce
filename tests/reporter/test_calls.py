"""Labelbox calls: transient failures retried with backoff, permanent ones not, every
attempt audited, and a client-side rate limit."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
import requests
from lbox import exceptions as lbox

from eventlog import UnstorableTextError
from eventlog.retry import Jitter, RetryPolicy
from eventlog.text import unstorable_field
from services.reporter.audit import AuditEntry, CallContext, InMemoryAuditLog
from services.reporter.calls import CallFailedError, LabelboxCalls, PolicyWait
from services.reporter.faults import Outcome, classify
from services.reporter.metrics import ReporterMetrics
from services.reporter.settings import CallPolicy

CONTEXT = CallContext(model_run_id="run-1", stream_id="model_run-run-1", action="status",
                      run_attempt=1)


def calls_with(audit: InMemoryAuditLog, **policy: float) -> LabelboxCalls:
    defaults: dict[str, float] = {"calls_per_second": 1000, "max_attempts": 4,
                                  "backoff_initial": 0.001, "backoff_max": 0.01}
    return LabelboxCalls(audit, CallPolicy(**{**defaults, **policy}),  # type: ignore[arg-type]
                         ReporterMetrics(), acknowledgement_threads=1)


class Flaky:
    """Fails with the given exceptions, in order, then answers."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


@pytest.mark.parametrize("exc", [
    lbox.InternalServerError("Internal server http error 503"),
    lbox.TimeoutError("read timed out"),
    lbox.NetworkError(ConnectionError("reset")),
    lbox.ApiLimitError("You have exceeded the rate limit"),
    lbox.LabelboxError("Failed to parse response as JSON: <html>"),
    requests.exceptions.ConnectionError("refused"),
])
def test_transient_failures_are_retryable(exc: BaseException) -> None:
    assert classify(exc) is Outcome.RETRYABLE


@pytest.mark.parametrize("exc", [
    lbox.AuthenticationError("Invalid API key"),
    lbox.AuthorizationError("not allowed"),
    lbox.ResourceNotFoundError(message="no such model run"),
    lbox.InvalidQueryError("bad query"),
    ValueError("Status must be one of ..."),
    KeyError("a bug of ours"),
])
def test_client_errors_and_our_own_bugs_are_permanent(exc: BaseException) -> None:
    assert classify(exc) is Outcome.PERMANENT


async def test_a_transient_failure_is_retried_and_every_attempt_is_audited() -> None:
    audit = InMemoryAuditLog()
    call = Flaky(lbox.InternalServerError("503"), lbox.ApiLimitError("You have exceeded"))
    result = await calls_with(audit).call(CONTEXT, "ModelRun.update_status", call,
                                          request={"status": "COMPLETE"})
    assert result == "ok" and call.calls == 3
    assert [(e.call_try, e.outcome, e.error_type) for e in audit.entries] == [
        (1, "retryable_error", "InternalServerError"),
        (2, "retryable_error", "ApiLimitError"),
        (3, "ok", None),
    ]
    assert all(e.request == {"status": "COMPLETE"} and e.ended_at >= e.started_at
               for e in audit.entries)


async def test_a_permanent_failure_is_not_retried() -> None:
    audit = InMemoryAuditLog()
    call = Flaky(lbox.AuthenticationError("Invalid API key"))
    with pytest.raises(CallFailedError) as failure:
        await calls_with(audit).call(CONTEXT, "ModelRun.update_status", call, request={})
    assert failure.value.permanent and call.calls == 1
    assert [e.outcome for e in audit.entries] == ["permanent_error"]


async def test_retries_end_after_max_attempts() -> None:
    audit = InMemoryAuditLog()
    call = Flaky(*[lbox.InternalServerError("503")] * 10)
    with pytest.raises(CallFailedError) as failure:
        await calls_with(audit, max_attempts=3).call(CONTEXT, "m", call, request={})
    assert not failure.value.permanent and failure.value.tries == 3
    assert "gave up after 3 tries" in str(failure.value)
    assert [e.call_try for e in audit.entries] == [1, 2, 3]


async def test_the_rate_limit_spaces_calls_out() -> None:
    calls = calls_with(InMemoryAuditLog(), calls_per_second=20)
    started = time.monotonic()
    for _ in range(40):
        await calls.call(CONTEXT, "m", lambda: None, request={})
    # A bucket of 20 calls per second: the first 20 at once, the next 20 over ~1 s.
    assert time.monotonic() - started >= 0.9


async def test_labelbox_ids_and_a_response_summary_are_audited() -> None:
    audit = InMemoryAuditLog()
    await calls_with(audit).call(
        CONTEXT, "ModelRun.export", lambda: "task-7", request={"taskName": "t"},
        describe=lambda task_id: ({"taskId": task_id}, {"export_task_id": task_id}))
    entry = audit.entries[0]
    assert entry.response == {"taskId": "task-7"}
    assert entry.labelbox_ids == {"export_task_id": "task-7"}


class RefusingAuditLog(InMemoryAuditLog):
    """Refuses, as PostgreSQL does, an entry holding NUL or a lone surrogate."""

    async def record(self, entry: AuditEntry) -> None:
        if unstorable_field({"request": dict(entry.request), "response": entry.response,
                             "error": entry.error}) is not None:
            raise UnstorableTextError("PostgreSQL refused text (NUL or a lone surrogate)")
        await super().record(entry)


async def test_a_call_whose_answer_the_audit_log_refuses_still_gets_its_audit_row() -> None:
    audit = RefusingAuditLog()

    answer = await calls_with(audit).call(
        CONTEXT, "m", lambda: "odd\x00answer", request={"x": "y"},
        describe=lambda a: ({"answer": a}, {}))

    assert answer == "odd\x00answer"  # the caller makes it storable where it keeps it
    [entry] = audit.entries
    assert entry.outcome == "ok"
    assert entry.response is not None and "refused text" in entry.response["unrecordable"]
    assert entry.request == {"x": "y"}


async def test_an_error_message_holding_nul_and_surrogates_is_audited_with_markers() -> None:
    audit = RefusingAuditLog()

    with pytest.raises(CallFailedError) as failure:
        await calls_with(audit).call(
            CONTEXT, "m", Flaky(lbox.ResourceConflict("taken\x00by \ud800 another")),
            request={})

    [entry] = audit.entries
    assert (entry.outcome, entry.error) == ("permanent_error", "taken\ufffdby \ufffd another")
    assert "taken\ufffdby" in str(failure.value)


async def test_an_answer_of_an_unexpected_shape_is_audited_before_its_error_propagates(
) -> None:
    audit = InMemoryAuditLog()

    with pytest.raises(KeyError):
        await calls_with(audit).call(CONTEXT, "m", lambda: {"no": "id"}, request={},
                                     describe=lambda a: ({"id": a["id"]}, {}))

    [entry] = audit.entries
    assert entry.outcome == "ok"  # it reached Labelbox and was answered
    assert entry.response == {"undescribable": "KeyError: 'id'"}


def test_the_wait_between_tries_follows_the_retry_policy_and_starts_over_each_call() -> None:
    wait = PolicyWait(RetryPolicy(initial=0.5, cap=2.0, jitter=Jitter.FULL), lambda: 1.0)
    tries = [SimpleNamespace(attempt_number=n) for n in (1, 2, 3, 4, 1)]
    assert [wait(t) for t in tries] == [0.5, 1.0, 2.0, 2.0, 0.5]  # type: ignore[arg-type]
