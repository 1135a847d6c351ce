"""Prometheus metrics of one reporter process (its own registry: nothing global at import)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, generate_latest

from eventlog.metrics import OutboxBacklog, service_registry


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
        self.reconciles = Counter(
            "trainbridge_reporter_reconciles", "Reconciliations of a model run, by trigger",
            ["trigger"], registry=self.registry,
        )
        self.relay_backlog = OutboxBacklog(self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
