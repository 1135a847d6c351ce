"""Prometheus metrics of one reporter process (its own registry: nothing global at import)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, generate_latest

from eventlog.metrics import OutboxBacklog, service_registry

RUN_END_STATUSES = ("COMPLETE", "FAILED")


class ReporterMetrics:
    def __init__(self) -> None:
        self.registry = service_registry()
        self.calls = Counter(
            "trainbridge_reporter_labelbox_calls", "Labelbox SDK calls by action and outcome",
            ["action", "sdk_method", "outcome"], registry=self.registry,
        )
        self.call_seconds = Histogram(
            "trainbridge_reporter_labelbox_call_seconds", "Duration of one Labelbox SDK call",
            ["sdk_method"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.rate_limited = Counter(
            "trainbridge_reporter_labelbox_rate_limited",
            "Labelbox answers 429 (rate limited; the call is retried after its Retry-After)",
            registry=self.registry,
        )
        self.deliveries = Counter(
            "trainbridge_reporter_deliveries", "Deliveries finished, by action and result",
            ["action", "result"], registry=self.registry,
        )
        self.parked = Gauge(
            "trainbridge_reporter_parked_deliveries",
            "Deliveries waiting for an operator (as of the last check)", registry=self.registry,
        )
        self.reconcile_lag = Histogram(
            "trainbridge_reporter_reconcile_lag_seconds",
            "From an event being recorded to its delivery to Labelbox", registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
        )
        self.acknowledgement_lag = Histogram(
            "trainbridge_reporter_acknowledgement_lag_seconds",
            "From a training request being recorded to its run's first status at Labelbox "
            "(what a user waits for after clicking Train Model)", registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.acknowledgements_pending = Gauge(
            "trainbridge_reporter_acknowledgements_pending",
            "Training requests woken up and not yet acknowledged by this reporter",
            registry=self.registry,
        )
        self.run_duration = Histogram(
            "trainbridge_reporter_run_duration_seconds",
            "From a training request being recorded to its run's final status (COMPLETE or "
            "FAILED) shown at Labelbox, by that status: its count is the runs finished",
            ["status"], registry=self.registry,
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400),
        )
        for status in RUN_END_STATUSES:
            self.run_duration.labels(status=status)  # present at 0 from the start
        self.reconciles = Counter(
            "trainbridge_reporter_reconciles", "Reconciliations of a model run, by trigger",
            ["trigger"], registry=self.registry,
        )
        self.relay_backlog = OutboxBacklog(self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
