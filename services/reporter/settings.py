"""The reporter's settings, read once at the entry point."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

from eventlog.settings import (
    SettingsError,
    check_url,
    read_artifacts_url,
    read_integer,
    read_number,
    read_setting,
)
from services.reporter.calls import CallPolicy

DEFAULT_ENDPOINT = "https://api.labelbox.com/graphql"


@dataclass(frozen=True)
class ReporterSettings:
    api_key: str = field(repr=False)
    artifacts_url: str
    endpoint: str = DEFAULT_ENDPOINT
    reporter_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    call_timeout: float = 60.0
    """Seconds one Labelbox request may take before it counts as a (retryable) timeout."""
    policy: CallPolicy = field(default_factory=CallPolicy)
    concurrency: int = 8
    """Model runs reconciled at the same time by this process."""
    acknowledge_concurrency: int = 4
    """Runs acknowledged (their attempt's first status sent) at the same time, on slots and
    threads of their own, so new runs are acknowledged while older runs export and import."""
    export_poll_interval: float = 2.0
    export_timeout: float = 1200.0
    """A delivery is held while it runs: keep these below RabbitMQ's consumer_timeout
    (30 min by default)."""
    import_poll_interval: float = 5.0
    import_timeout: float = 1200.0
    sweep_interval: float = 30.0
    """Seconds between sweeps of the event log (catch-up and operator redrives)."""
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9102

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ReporterSettings:
        api_key = read_setting(environ, "LABELBOX_API_KEY")
        if not api_key:
            raise SettingsError("LABELBOX_API_KEY (or LABELBOX_API_KEY_FILE) is required: "
                                "the reporter is the only component that calls Labelbox")

        def number(name: str, default: float, minimum: float = 0.001) -> float:
            return read_number(environ, name, default, minimum=minimum)

        return cls(
            api_key=api_key,
            artifacts_url=read_artifacts_url(environ),
            endpoint=check_url(
                "TRAINBRIDGE_LABELBOX_ENDPOINT",
                read_setting(environ, "TRAINBRIDGE_LABELBOX_ENDPOINT") or DEFAULT_ENDPOINT,
                ("http", "https")),
            call_timeout=number("TRAINBRIDGE_LABELBOX_TIMEOUT_SECONDS", 60.0),
            policy=CallPolicy(
                calls_per_second=number("TRAINBRIDGE_LABELBOX_CALLS_PER_SECOND", 20.0),
                max_attempts=read_integer(environ, "TRAINBRIDGE_LABELBOX_MAX_ATTEMPTS", 10,
                                          minimum=1),
                backoff_initial=number("TRAINBRIDGE_LABELBOX_BACKOFF_SECONDS", 0.5),
                backoff_max=number("TRAINBRIDGE_LABELBOX_BACKOFF_MAX_SECONDS", 30.0),
                threads=read_integer(environ, "TRAINBRIDGE_LABELBOX_THREADS", 16, minimum=1),
            ),
            concurrency=read_integer(environ, "TRAINBRIDGE_REPORTER_CONCURRENCY", 8, minimum=1),
            acknowledge_concurrency=read_integer(
                environ, "TRAINBRIDGE_REPORTER_ACKNOWLEDGE_CONCURRENCY", 4, minimum=1),
            export_poll_interval=number("TRAINBRIDGE_EXPORT_POLL_SECONDS", 2.0),
            export_timeout=number("TRAINBRIDGE_EXPORT_TIMEOUT_SECONDS", 1200.0),
            import_poll_interval=number("TRAINBRIDGE_IMPORT_POLL_SECONDS", 5.0),
            import_timeout=number("TRAINBRIDGE_IMPORT_TIMEOUT_SECONDS", 1200.0),
            sweep_interval=number("TRAINBRIDGE_REPORTER_SWEEP_SECONDS", 30.0),
            metrics_host=read_setting(environ, "TRAINBRIDGE_REPORTER_METRICS_HOST", "0.0.0.0")
            or "0.0.0.0",
            metrics_port=read_integer(environ, "TRAINBRIDGE_REPORTER_METRICS_PORT", 9102,
                                      minimum=0),
        )
