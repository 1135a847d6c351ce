"""Making Labelbox calls: in worker threads (the SDK is synchronous), under a client-side
rate limit, retried with exponential backoff and jitter when the failure is transient, and
every attempt audited (:mod:`services.reporter.audit`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiolimiter import AsyncLimiter
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from eventlog import UnstorableTextError, telemetry
from eventlog.retry import Backoff, RetryPolicy
from eventlog.text import storable, storable_text
from services.reporter.audit import AuditEntry, AuditLog, CallContext, unstorable_part
from services.reporter.faults import Outcome, classify, rate_limited, retry_after
from services.reporter.metrics import ReporterMetrics
from services.reporter.settings import CallPolicy

logger = logging.getLogger(__name__)

T = TypeVar("T")


MAX_ERROR_CHARS = 2000


def error_text(exc: BaseException, limit: int = MAX_ERROR_CHARS) -> str:
    """What an exception says, as text PostgreSQL can store (Labelbox's error messages may
    hold anything), cut to ``limit`` characters."""
    return storable_text(f"{type(exc).__name__}: {exc}")[:limit]


class CallFailedError(Exception):
    """A Labelbox call that will not succeed by being repeated now: a permanent error, or
    retries exhausted. The delivery is parked for an operator."""

    def __init__(self, sdk_method: str, cause: BaseException, *, tries: int,
                 permanent: bool, retry_after: float | None = None) -> None:
        self.sdk_method = sdk_method
        self.cause = cause
        self.tries = tries
        """How often the call was tried (a call's tries; a run's attempt is another thing)."""
        self.permanent = permanent
        how = "permanent error" if permanent else f"gave up after {tries} tries"
        if retry_after is not None:
            how += (f" (Labelbox last asked to retry after {retry_after:g} s; a wait past the "
                    "call's deadline is not waited)")
        super().__init__(f"{sdk_method}: {how}: {error_text(cause)}")


class RetryableCallError(Exception):
    def __init__(self, sdk_method: str, cause: BaseException,
                 retry_after: float | None = None, call_try: int = 1) -> None:
        self.sdk_method = sdk_method
        self.cause = cause
        self.call_try = call_try
        self.retry_after = retry_after
        """Seconds Labelbox asked to wait (``Retry-After`` of a 429 or 503), if it did."""
        super().__init__(f"{sdk_method}: {error_text(cause)}")


class PolicyWait:
    """A tenacity ``wait=`` that follows a retry policy (one instance per retrying loop)."""

    def __init__(self, policy: RetryPolicy, random: Callable[[], float] | None = None) -> None:
        self._backoff = Backoff(policy) if random is None else Backoff(policy, random)

    def __call__(self, state: RetryCallState) -> float:
        if state.attempt_number <= 1:
            self._backoff.reset()
        while self._backoff.failures < state.attempt_number - 1:
            self._backoff.next()  # tries made before this wait was first asked
        return self._backoff.next()


class _HonouringRetryAfter:
    """Wait the ``Retry-After`` Labelbox asked for, then the backoff on top: its jitter
    spreads the retries of the calls (and replicas) that were asked to wait the same."""

    def __init__(self, backoff: PolicyWait) -> None:
        self._backoff = backoff

    def __call__(self, state: RetryCallState) -> float:
        backoff: float = self._backoff(state)
        failure = state.outcome.exception() if state.outcome is not None else None
        asked = failure.retry_after if isinstance(failure, RetryableCallError) else None
        return backoff if asked is None else asked + backoff


class _StopAtAttemptsOrDeadline:
    def __init__(self, attempts: int, deadline: float) -> None:
        self._attempts = stop_after_attempt(attempts)
        self._deadline = deadline

    def __call__(self, state: RetryCallState) -> bool:
        elapsed = state.seconds_since_start or 0.0
        past_deadline = elapsed + state.upcoming_sleep > self._deadline
        return bool(self._attempts(state)) or past_deadline


def _limiter(calls_per_second: float) -> AsyncLimiter:
    if calls_per_second >= 1:
        return AsyncLimiter(calls_per_second, 1.0)
    return AsyncLimiter(1, 1.0 / calls_per_second)


def _now() -> datetime:
    return datetime.now(UTC)


class LabelboxCalls:
    def __init__(self, audit: AuditLog, policy: CallPolicy, metrics: ReporterMetrics,
                 *, acknowledgement_threads: int) -> None:
        self._audit = audit
        self._policy = policy
        self._metrics = metrics
        self._limiter = _limiter(policy.calls_per_second)
        self._threads = ThreadPoolExecutor(max_workers=policy.threads,
                                           thread_name_prefix="labelbox")
        # Acknowledgements never queue behind exports and imports for a thread.
        self._acknowledgement_threads = ThreadPoolExecutor(
            max_workers=acknowledgement_threads, thread_name_prefix="labelbox-ack")

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        self._acknowledgement_threads.shutdown(wait=False, cancel_futures=True)

    def retrying(self) -> AsyncRetrying:
        """Attempts of a unit that may be repeated after a transient failure."""
        policy = self._policy
        return AsyncRetrying(
            stop=_StopAtAttemptsOrDeadline(policy.max_attempts, policy.deadline),
            wait=_HonouringRetryAfter(PolicyWait(policy.backoff)),
            retry=retry_if_exception_type(RetryableCallError),
            reraise=True,
        )

    async def call(
        self,
        context: CallContext,
        sdk_method: str,
        function: Callable[[], T],
        *,
        request: Mapping[str, Any],
        describe: Callable[[T], tuple[Mapping[str, Any], Mapping[str, str]]] | None = None,
        ids: Mapping[str, str] | None = None,
    ) -> T:
        """``function`` (one SDK call), retried while its failure is transient.
        Raises ``CallFailedError`` when it cannot succeed now."""
        result, _ = await self._call(context, sdk_method, function, request=request,
                                     describe=describe, ids=ids, defer=False)
        return result

    async def last_call(
        self,
        context: CallContext,
        sdk_method: str,
        function: Callable[[], T],
        *,
        request: Mapping[str, Any],
        describe: Callable[[T], tuple[Mapping[str, Any], Mapping[str, str]]] | None = None,
        ids: Mapping[str, str] | None = None,
    ) -> tuple[T, AuditEntry | None]:
        """:meth:`call` for a delivery's last call: the audit row of its successful try is
        returned instead of written, for the ledger to write with the delivery's outcome in
        one round trip (``None``: it was written, as its text had to be made storable). The
        rows of failed tries are written at once."""
        return await self._call(context, sdk_method, function, request=request,
                                describe=describe, ids=ids, defer=True)

    async def _call(
        self,
        context: CallContext,
        sdk_method: str,
        function: Callable[[], T],
        *,
        request: Mapping[str, Any],
        describe: Callable[[T], tuple[Mapping[str, Any], Mapping[str, str]]] | None,
        ids: Mapping[str, str] | None,
        defer: bool,
    ) -> tuple[T, AuditEntry | None]:
        try:
            async for trying in self.retrying():
                with trying:
                    return await self._once(context, sdk_method, function, request=request,
                                            call_try=trying.retry_state.attempt_number,
                                            describe=describe, ids=ids, defer=defer)
        except RetryableCallError as exc:
            raise self.gave_up(exc) from exc.cause
        raise AssertionError("unreachable: tenacity either returns or raises")

    def gave_up(self, exc: RetryableCallError) -> CallFailedError:
        return CallFailedError(exc.sdk_method, exc.cause, tries=exc.call_try,
                               permanent=False, retry_after=exc.retry_after)

    async def once(
        self,
        context: CallContext,
        sdk_method: str,
        function: Callable[[], T],
        *,
        request: Mapping[str, Any],
        call_try: int,
        describe: Callable[[T], tuple[Mapping[str, Any], Mapping[str, str]]] | None = None,
        ids: Mapping[str, str] | None = None,
    ) -> T:
        """One try, audited. Raises ``RetryableCallError`` for a transient failure and
        ``CallFailedError`` for a permanent one."""
        result, _ = await self._once(context, sdk_method, function, request=request,
                                     call_try=call_try, describe=describe, ids=ids,
                                     defer=False)
        return result

    async def _once(
        self,
        context: CallContext,
        sdk_method: str,
        function: Callable[[], T],
        *,
        request: Mapping[str, Any],
        call_try: int,
        describe: Callable[[T], tuple[Mapping[str, Any], Mapping[str, str]]] | None,
        ids: Mapping[str, str] | None,
        defer: bool,
    ) -> tuple[T, AuditEntry | None]:
        async with self._limiter:
            started = _now()
            loop = asyncio.get_running_loop()
            threads = (self._acknowledgement_threads if context.acknowledges
                       else self._threads)
            try:
                with telemetry.span(f"labelbox {sdk_method}", kind="client", attributes={
                        "trainbridge.sdk_method": sdk_method, "trainbridge.call_try": call_try,
                        "trainbridge.action": context.action}):
                    result = await loop.run_in_executor(threads,
                                                        telemetry.in_this_context(function))
            except Exception as exc:
                ended = _now()
                outcome = classify(exc)
                if rate_limited(exc):
                    self._metrics.rate_limited.inc()
                wait = retry_after(exc) if outcome is Outcome.RETRYABLE else None
                await self._record(AuditEntry(
                    context, sdk_method, request, call_try, started, ended, outcome.value,
                    response=None if wait is None else {"retryAfterSeconds": wait},
                    error_type=type(exc).__name__,
                    error=storable_text(str(exc))[:MAX_ERROR_CHARS], labelbox_ids=ids or {}))
                logger.warning("labelbox %s for %s (try %d): %s", sdk_method,
                               context.model_run_id, call_try, error_text(exc, 500))
                if outcome is Outcome.RETRYABLE:
                    raise RetryableCallError(sdk_method, exc, wait, call_try) from exc
                raise CallFailedError(sdk_method, exc, tries=call_try,
                                      permanent=True) from exc
            ended = _now()
            try:
                response, found_ids = describe(result) if describe else (None, {})
            except Exception as exc:  # an answer of a shape we did not expect: audited
                await self._record(AuditEntry(
                    context, sdk_method, request, call_try, started, ended, Outcome.OK.value,
                    response={"undescribable": error_text(exc, 500)}, labelbox_ids=ids or {}))
                raise
            entry = AuditEntry(
                context, sdk_method, request, call_try, started, ended, Outcome.OK.value,
                response=response, labelbox_ids={**(ids or {}), **found_ids})
            if defer and unstorable_part(entry) is None:
                self._count(entry)
                return result, entry
            await self._record(entry)
            return result, None

    def _count(self, entry: AuditEntry) -> None:
        self._metrics.calls.labels(entry.context.action, entry.sdk_method, entry.outcome).inc()
        self._metrics.call_seconds.labels(entry.sdk_method).observe(entry.duration_ms / 1000)

    async def _record(self, entry: AuditEntry) -> None:
        """Every call that reached Labelbox has its audit row: if what it answered cannot be
        stored (text the adapter did not make storable), the row says so instead."""
        self._count(entry)
        try:
            await self._audit.record(entry)
        except UnstorableTextError as exc:
            logger.error("labelbox %s for %s: audit row cannot hold the answer (%s); "
                         "recording without it", entry.sdk_method, entry.context.model_run_id,
                         exc)
            await self._audit.record(replace(
                entry, request=storable(dict(entry.request)),
                response={"unrecordable": storable_text(str(exc))[:MAX_ERROR_CHARS]},
                error=None if entry.error is None else storable_text(entry.error),
                labelbox_ids={k: storable_text(v) for k, v in entry.labelbox_ids.items()}))
