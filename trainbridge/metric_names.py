"""The metric names each service's ``/metrics`` serves, as a query names them (a counter
with its ``_total``, a histogram by its base name): the one list that dashboards and alert
rules are checked against, and that the end-to-end test scrapes for
(``tests/e2e/test_metrics.py``).

A name here is served once the service has done its work once (a labelled metric has no
sample before its first observation); ``trainbridge_outbox_backlog`` has none while the
database does not answer."""

from __future__ import annotations

STANDARD = (
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_start_time_seconds",
    "python_info",
    "python_gc_objects_collected_total",
    "python_gc_collections_total",
)
"""prometheus-client's process, platform and garbage-collector collectors."""

RELAY = (
    "trainbridge_relay_events_published_total",
    "trainbridge_relay_events_deferred_total",
    "trainbridge_outbox_backlog",
)

CONSUMER = (
    "trainbridge_consumer_messages_handled_total",
    "trainbridge_consumer_messages_redelivered_total",
    "trainbridge_consumer_messages_dead_lettered_total",
    "trainbridge_consumer_queue_messages",
    "trainbridge_consumer_dead_letter_queue_messages",
)

INGEST = (
    "trainbridge_ingest_requests_total",
    "trainbridge_ingest_request_duration_seconds",
    "trainbridge_ingest_signature_failures_total",
    "trainbridge_ingest_events_appended_total",
    *RELAY,
    *STANDARD,
)

TRAINER = (
    "trainbridge_trainer_jobs_claimed_total",
    "trainbridge_trainer_jobs_finished_total",
    "trainbridge_trainer_jobs_running",
    "trainbridge_trainer_lease_takeovers_total",
    "trainbridge_trainer_lease_renewals_total",
    "trainbridge_trainer_stage_duration_seconds",
    *CONSUMER,
    *RELAY,
    *STANDARD,
)

REPORTER = (
    "trainbridge_reporter_labelbox_calls_total",
    "trainbridge_reporter_labelbox_call_seconds",
    "trainbridge_reporter_labelbox_rate_limited_total",
    "trainbridge_reporter_deliveries_total",
    "trainbridge_reporter_parked_deliveries",
    "trainbridge_reporter_reconcile_lag_seconds",
    "trainbridge_reporter_acknowledgement_lag_seconds",
    "trainbridge_reporter_acknowledgements_pending",
    "trainbridge_reporter_run_duration_seconds",
    "trainbridge_reporter_reconciles_total",
    *CONSUMER,
    *RELAY,
    *STANDARD,
)

BY_SERVICE: dict[str, tuple[str, ...]] = {
    "ingest": INGEST, "trainer": TRAINER, "reporter": REPORTER}
