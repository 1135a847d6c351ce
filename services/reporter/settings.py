"""The reporter's settings, declared here and read once at the entry point."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

from eventlog.config import Integer, Number, RequiredText, Text, Url
from eventlog.retry import Jitter, RetryPolicy
from eventlog.settings import ARTIFACTS_URL


def _positive(name: str, default: float, description: str) -> Number:
    return Number(name=name, default=default, minimum=0.001, description=description)


API_KEY = RequiredText(
    name="LABELBOX_API_KEY", secret=True,
    why="the reporter is the only component that calls Labelbox",
    description="the Labelbox API key; only the reporter reads it")
ENDPOINT = Url(
    name="TRAINBRIDGE_LABELBOX_ENDPOINT", default="https://api.labelbox.com/graphql",
    schemes=("http", "https"),
    description="Labelbox's GraphQL endpoint (the fake's, for demos and tests)")
CALL_TIMEOUT = _positive("TRAINBRIDGE_LABELBOX_TIMEOUT_SECONDS", 60.0,
                         "longest one Labelbox request may take (then a retryable timeout)")
CALLS_PER_SECOND = _positive(
    "TRAINBRIDGE_LABELBOX_CALLS_PER_SECOND", 20.0,
    "client-side rate limit shared by all of a reporter's Labelbox calls")
MAX_ATTEMPTS = Integer(
    name="TRAINBRIDGE_LABELBOX_MAX_ATTEMPTS", default=10, minimum=1,
    description="tries of a call failing with 5xx/429/timeouts before its delivery is "
                "parked")
BACKOFF = _positive("TRAINBRIDGE_LABELBOX_BACKOFF_SECONDS", 0.5,
                    "first retry delay (doubles per try; jittered between half and all of "
                    "it)")
BACKOFF_MAX = _positive("TRAINBRIDGE_LABELBOX_BACKOFF_MAX_SECONDS", 30.0, "longest retry delay")
THREADS = Integer(name="TRAINBRIDGE_LABELBOX_THREADS", default=16, minimum=1,
                  description="worker threads running the synchronous SDK")
CONCURRENCY = Integer(name="TRAINBRIDGE_REPORTER_CONCURRENCY", default=8, minimum=1,
                      description="model runs one reporter reconciles at once")
ACKNOWLEDGE_CONCURRENCY = Integer(
    name="TRAINBRIDGE_REPORTER_ACKNOWLEDGE_CONCURRENCY", default=4, minimum=1,
    description="runs one reporter acknowledges at once (`EXPORTING_DATA`), on as many SDK "
                "threads of their own (each also holds a database connection for its run's "
                "lock); for a burst of webhooks, at least their rate times Labelbox's answer "
                "time (100/s at 0.2 s: 20)")
EXPORT_POLL = _positive("TRAINBRIDGE_EXPORT_POLL_SECONDS", 2.0,
                        "between polls of an export task")
EXPORT_TIMEOUT = _positive("TRAINBRIDGE_EXPORT_TIMEOUT_SECONDS", 1200.0,
                           "an export still running after this fails the run")
IMPORT_POLL = _positive("TRAINBRIDGE_IMPORT_POLL_SECONDS", 5.0,
                        "between polls of a predictions import")
IMPORT_TIMEOUT = _positive("TRAINBRIDGE_IMPORT_TIMEOUT_SECONDS", 1200.0,
                           "an import still running after this parks the delivery")
ARTIFACT_LINK_SECONDS = Integer(
    name="TRAINBRIDGE_ARTIFACT_LINK_SECONDS", default=604800, minimum=1, maximum=604800,
    description="how long the links to a run's model and metrics in its Labelbox metadata "
                "stay valid (presigned URLs, made when `TRAINBRIDGE_ARTIFACTS_URL` is an "
                "`s3://` or `gs://` store; 7 days, the default, is the longest S3 and GCS "
                "allow)")
SWEEP = _positive("TRAINBRIDGE_REPORTER_SWEEP_SECONDS", 30.0,
                  "between sweeps of the log (catch-up, operator redrives, parked gauge)")
METRICS_HOST = Text(name="TRAINBRIDGE_REPORTER_METRICS_HOST", default="0.0.0.0",
                    description="the address of the reporter's `/metrics`")
METRICS_PORT = Integer(
    name="TRAINBRIDGE_REPORTER_METRICS_PORT", default=9102, minimum=0, maximum=65535,
    description="the port of the reporter's `/metrics` (`0`: off; "
                "`trainbridge reporter --metrics-port` overrides it)")
SETTINGS = (API_KEY, ARTIFACTS_URL, ARTIFACT_LINK_SECONDS, ENDPOINT, CALL_TIMEOUT,
            CALLS_PER_SECOND, MAX_ATTEMPTS, BACKOFF, BACKOFF_MAX, THREADS, CONCURRENCY,
            ACKNOWLEDGE_CONCURRENCY, EXPORT_POLL, EXPORT_TIMEOUT, IMPORT_POLL, IMPORT_TIMEOUT,
            SWEEP, METRICS_HOST, METRICS_PORT)

DEFAULT_ENDPOINT = ENDPOINT.default


@dataclass(frozen=True)
class CallPolicy:
    """How Labelbox calls are made (services.reporter.calls)."""

    calls_per_second: float = CALLS_PER_SECOND.default
    max_attempts: int = MAX_ATTEMPTS.default
    backoff_initial: float = BACKOFF.default
    backoff_max: float = BACKOFF_MAX.default
    threads: int = THREADS.default
    deadline: float = 300.0
    """Seconds a call (all its tries and waits) may take: a ``Retry-After`` that would
    end past it ends the call now instead."""

    @property
    def backoff(self) -> RetryPolicy:
        """Between tries of a call: jitter spreads the calls (and replicas) that compete for
        Labelbox's rate limit, and equal jitter keeps at least half of each delay."""
        return RetryPolicy(initial=self.backoff_initial, cap=self.backoff_max,
                           jitter=Jitter.EQUAL)


@dataclass(frozen=True)
class ReporterSettings:
    api_key: str = field(repr=False)
    artifacts_url: str
    endpoint: str = ENDPOINT.default
    reporter_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    call_timeout: float = CALL_TIMEOUT.default
    """Seconds one Labelbox request may take before it counts as a (retryable) timeout."""
    policy: CallPolicy = field(default_factory=CallPolicy)
    concurrency: int = CONCURRENCY.default
    """Model runs reconciled at the same time by this process."""
    acknowledge_concurrency: int = ACKNOWLEDGE_CONCURRENCY.default
    """Runs acknowledged (their attempt's first status sent) at the same time, on slots and
    threads of their own, so new runs are acknowledged while older runs export and import."""
    export_poll_interval: float = EXPORT_POLL.default
    export_timeout: float = EXPORT_TIMEOUT.default
    """A delivery is held while it runs: keep these below RabbitMQ's consumer_timeout
    (30 min by default)."""
    import_poll_interval: float = IMPORT_POLL.default
    import_timeout: float = IMPORT_TIMEOUT.default
    artifact_link_seconds: int = ARTIFACT_LINK_SECONDS.default
    """How long a link to an artifact in Labelbox's metadata stays valid."""
    sweep_interval: float = SWEEP.default
    """Seconds between sweeps of the event log (catch-up and operator redrives)."""
    metrics_host: str = METRICS_HOST.default
    metrics_port: int = METRICS_PORT.default

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ReporterSettings:
        return cls(
            api_key=API_KEY.read(environ),
            artifacts_url=ARTIFACTS_URL.read(environ),
            endpoint=ENDPOINT.read(environ),
            call_timeout=CALL_TIMEOUT.read(environ),
            policy=CallPolicy(
                calls_per_second=CALLS_PER_SECOND.read(environ),
                max_attempts=MAX_ATTEMPTS.read(environ),
                backoff_initial=BACKOFF.read(environ),
                backoff_max=BACKOFF_MAX.read(environ),
                threads=THREADS.read(environ),
            ),
            concurrency=CONCURRENCY.read(environ),
            acknowledge_concurrency=ACKNOWLEDGE_CONCURRENCY.read(environ),
            export_poll_interval=EXPORT_POLL.read(environ),
            export_timeout=EXPORT_TIMEOUT.read(environ),
            import_poll_interval=IMPORT_POLL.read(environ),
            import_timeout=IMPORT_TIMEOUT.read(environ),
            artifact_link_seconds=ARTIFACT_LINK_SECONDS.read(environ),
            sweep_interval=SWEEP.read(environ),
            metrics_host=METRICS_HOST.read(environ),
            metrics_port=METRICS_PORT.read(environ),
        )
