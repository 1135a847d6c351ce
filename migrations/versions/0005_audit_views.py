"""Audit views for operators: ``model_runs`` (every run's current state), ``run_timeline``
(one run's events and Labelbox calls in time order), ``labelbox_delivery_problems`` (failed
calls and parked deliveries) and ``model_type_stats``; and the indexes that keep them fast.

The runs are the streams' first events (``TrainingRequested`` at stream version 1): small
partial indexes over those rows (by time, by model run id, by model type) let
``model_runs ... ORDER BY requested_at DESC LIMIT n`` and ``run_timeline WHERE model_run_id =
...`` touch only the rows they return. Appends of later events skip these indexes (their
predicate is false), so the event log's write path pays next to nothing for them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RUN_START = "stream_version = 1 AND event_type = 'TrainingRequested'"

_INDEXES = {
    "events_run_requested_idx": f"ON events (recorded_at) WHERE {_RUN_START}",
    "events_run_id_idx": f"ON events ((substr(stream_id, 11))) WHERE {_RUN_START}",
    "events_run_model_type_idx": f"ON events ((data->>'modelType'), recorded_at) "
                                 f"WHERE {_RUN_START}",
    "events_run_milestones_idx": "ON events (stream_id, stream_version) WHERE event_type "
                                 "IN ('TrainingRequested', 'TrainingCompleted', 'TrainingFailed')",
    "labelbox_calls_problems_idx": "ON labelbox_calls (started_at) WHERE outcome <> 'ok'",
    "reporter_deliveries_waiting_at_idx": "ON reporter_deliveries (updated_at) "
                                          "WHERE state <> 'delivered'",
}

# One row per model run (a stream whose first event is TrainingRequested). Each lateral reads
# one run's rows through an index: its events by (stream_id, stream_version), its Labelbox
# calls by (model_run_id, call_id), its deliveries by (stream_id, delivery_key).
_MODEL_RUNS = f"""
CREATE VIEW model_runs AS
SELECT r.model_run_id, r.model_type, r.model_id, a.attempt AS latest_attempt,
       r.requested_at,
       CASE WHEN s.failed_at IS NOT NULL THEN 'FAILED'
            WHEN s.completed_at IS NOT NULL THEN 'COMPLETE'
            ELSE 'IN_PROGRESS' END AS status,
       lb.status AS labelbox_status, lb.shown_at AS labelbox_status_at,
       s.current_stage, s.last_event_type, s.last_event_at,
       a.requested_at AS started_at,
       coalesce(s.failed_at, s.completed_at) AS finished_at,
       round(extract(epoch FROM coalesce(s.failed_at, s.completed_at) - a.requested_at),
             3) AS duration_seconds,
       s.error AS last_error, s.failed_stage,
       p.parked AS parked_deliveries, s.events, r.stream_id
FROM (
    SELECT e.stream_id, substr(e.stream_id, 11) AS model_run_id,
           e.data->>'modelType' AS model_type, e.data->>'modelId' AS model_id,
           e.recorded_at AS requested_at
    FROM events e
    WHERE e.{_RUN_START.replace(" AND ", " AND e.")}
) r
CROSS JOIN LATERAL (
    SELECT coalesce((t.data->>'attempt')::int, 1) AS attempt, t.recorded_at AS requested_at
    FROM events t
    WHERE t.stream_id = r.stream_id AND t.event_type = 'TrainingRequested'
    ORDER BY t.stream_version DESC LIMIT 1
) a
CROSS JOIN LATERAL (
    SELECT min(x.recorded_at) FILTER (WHERE x.ours AND x.event_type = 'TrainingFailed')
               AS failed_at,
           min(x.recorded_at) FILTER (WHERE x.ours AND x.event_type = 'TrainingCompleted')
               AS completed_at,
           (array_agg(x.data->>'stage' ORDER BY x.stream_version DESC)
               FILTER (WHERE x.ours AND x.event_type = 'StageStarted'))[1] AS current_stage,
           (array_agg(x.data->>'message' ORDER BY x.stream_version)
               FILTER (WHERE x.ours AND x.event_type = 'TrainingFailed'))[1] AS error,
           (array_agg(x.data->>'stage' ORDER BY x.stream_version)
               FILTER (WHERE x.ours AND x.event_type = 'TrainingFailed'))[1] AS failed_stage,
           (array_agg(x.event_type ORDER BY x.stream_version DESC))[1] AS last_event_type,
           max(x.recorded_at) AS last_event_at,
           count(*) AS events
    FROM (
        SELECT v.event_type, v.recorded_at, v.stream_version, v.data,
               coalesce((v.data->>'attempt')::int, 1) = a.attempt AS ours
        FROM events v WHERE v.stream_id = r.stream_id
    ) x
) s
LEFT JOIN LATERAL (
    SELECT c.request->>'status' AS status, c.ended_at AS shown_at
    FROM labelbox_calls c
    WHERE c.model_run_id = r.model_run_id AND c.sdk_method = 'ModelRun.update_status'
      AND c.outcome = 'ok'
    ORDER BY c.call_id DESC LIMIT 1
) lb ON true
CROSS JOIN LATERAL (
    SELECT count(*) AS parked FROM reporter_deliveries d
    WHERE d.stream_id = r.stream_id AND d.state = 'parked'
) p
"""

# Events reach their run through the run's first event (the indexed model run id), then the
# (stream_id, stream_version) index: WHERE model_run_id = ... reads only that run's rows.
_RUN_TIMELINE = f"""
CREATE VIEW run_timeline AS
SELECT substr(r.stream_id, 11) AS model_run_id, e.recorded_at AS at, 'event'::text AS source,
       e.event_type AS kind, coalesce((e.data->>'attempt')::int, 1) AS attempt,
       e.data AS detail, NULL::text AS outcome, e.stream_version AS seq
FROM events r JOIN events e ON e.stream_id = r.stream_id
WHERE r.{_RUN_START.replace(" AND ", " AND r.")}
UNION ALL
SELECT c.model_run_id, c.started_at, 'labelbox', c.sdk_method,
       coalesce(substring(c.delivery_key FROM '^attempt-([0-9]+)/')::int, 1),
       jsonb_strip_nulls(jsonb_build_object(
           'action', c.action, 'delivery_key', c.delivery_key, 'try', c.attempt,
           'request', c.request, 'response', c.response,
           'duration_ms', round(c.duration_ms::numeric, 1), 'error_type', c.error_type,
           'error', c.error, 'import_id', c.import_id, 'export_task_id', c.export_task_id,
           'call_id', c.call_id)),
       c.outcome, c.call_id
FROM labelbox_calls c
"""

_DELIVERY_PROBLEMS = """
CREATE VIEW labelbox_delivery_problems AS
SELECT c.model_run_id, c.started_at AS at, 'call'::text AS source, c.outcome AS problem,
       c.delivery_key, c.action,
       c.sdk_method, c.attempt AS try, c.error_type, c.error, NULL::integer AS redrives,
       c.call_id
FROM labelbox_calls c WHERE c.outcome <> 'ok'
UNION ALL
SELECT d.model_run_id, d.updated_at, 'delivery', d.state, d.delivery_key, d.action,
       f.sdk_method, f.try, f.error_type, d.error, d.redrives, f.call_id
FROM reporter_deliveries d
LEFT JOIN LATERAL (
    SELECT c.sdk_method, c.attempt AS try, c.error_type, c.call_id FROM labelbox_calls c
    WHERE c.model_run_id = d.model_run_id AND c.delivery_key = d.delivery_key
      AND c.outcome <> 'ok'
    ORDER BY c.call_id DESC LIMIT 1
) f ON true
WHERE d.state <> 'delivered'
"""

# Whole-log aggregate (a scan of the run starts and the runs' outcome events): for reports,
# not for a hot path. Statuses follow model_runs: the latest attempt counts, a failure wins.
_MODEL_TYPE_STATS = f"""
CREATE VIEW model_type_stats AS
WITH latest AS (
    SELECT DISTINCT ON (t.stream_id) t.stream_id,
           coalesce((t.data->>'attempt')::int, 1) AS attempt, t.recorded_at AS started_at
    FROM events t WHERE t.event_type = 'TrainingRequested'
    ORDER BY t.stream_id, t.stream_version DESC
),
outcomes AS (
    SELECT o.stream_id, coalesce((o.data->>'attempt')::int, 1) AS attempt,
           min(o.recorded_at) FILTER (WHERE o.event_type = 'TrainingFailed') AS failed_at,
           min(o.recorded_at) FILTER (WHERE o.event_type = 'TrainingCompleted')
               AS completed_at
    FROM events o WHERE o.event_type IN ('TrainingCompleted', 'TrainingFailed')
    GROUP BY 1, 2
),
runs AS (
    SELECT r.data->>'modelType' AS model_type, o.failed_at, o.completed_at,
           extract(epoch FROM o.completed_at - l.started_at) AS completed_seconds
    FROM events r
    JOIN latest l ON l.stream_id = r.stream_id
    LEFT JOIN outcomes o ON o.stream_id = l.stream_id AND o.attempt = l.attempt
    WHERE r.{_RUN_START.replace(" AND ", " AND r.")}
)
SELECT model_type, count(*) AS runs,
       count(*) FILTER (WHERE failed_at IS NULL AND completed_at IS NOT NULL) AS completed,
       count(*) FILTER (WHERE failed_at IS NOT NULL) AS failed,
       count(*) FILTER (WHERE failed_at IS NULL AND completed_at IS NULL) AS in_progress,
       round(count(*) FILTER (WHERE failed_at IS NULL AND completed_at IS NOT NULL)::numeric
             / nullif(count(*) FILTER (WHERE failed_at IS NOT NULL OR completed_at IS NOT NULL),
                      0), 4) AS success_rate,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY completed_seconds)
              FILTER (WHERE failed_at IS NULL))::numeric, 3) AS median_seconds,
       round((percentile_cont(0.9) WITHIN GROUP (ORDER BY completed_seconds)
              FILTER (WHERE failed_at IS NULL))::numeric, 3) AS p90_seconds
FROM runs GROUP BY model_type
"""

_VIEWS = ("model_type_stats", "labelbox_delivery_problems", "run_timeline", "model_runs")


def upgrade() -> None:
    for name, definition in _INDEXES.items():
        op.execute(f"CREATE INDEX {name} {definition}")
    for view in (_MODEL_RUNS, _RUN_TIMELINE, _DELIVERY_PROBLEMS, _MODEL_TYPE_STATS):
        op.execute(view)
    op.execute("COMMENT ON VIEW model_runs IS 'Every model run''s current state: latest "
               "attempt, status (COMPLETE, FAILED, IN_PROGRESS), what Labelbox was last shown, "
               "stage, timings, last error, parked deliveries. ORDER BY requested_at DESC'")
    op.execute("COMMENT ON VIEW run_timeline IS 'One run''s events and Labelbox calls; "
               "query WHERE model_run_id = ... ORDER BY at, source, seq'")
    op.execute("COMMENT ON VIEW labelbox_delivery_problems IS 'Failed Labelbox calls "
               "(retryable_error, permanent_error) and deliveries waiting for an operator "
               "(parked, redrive_requested)'")
    op.execute("COMMENT ON VIEW model_type_stats IS 'Per model type: runs, completed, failed, "
               "in progress, success rate, median and p90 seconds to COMPLETE (a whole-log "
               "aggregate)'")


def downgrade() -> None:
    for view in _VIEWS:
        op.execute(f"DROP VIEW {view}")
    for name in _INDEXES:
        op.execute(f"DROP INDEX {name}")
