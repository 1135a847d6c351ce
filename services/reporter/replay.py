"""Rebuild the reporter's ledger (``reporter_deliveries``) from the history alone (``trainbridge
replay``) — the append-only audit log of Labelbox calls and the events the reporter
appended — without calling Labelbox.

A delivery is recorded as delivered only where history proves it: a status by its successful
``update_status`` call, the hyper-parameters by their successful ``update_config`` call, an
export by the ``DataExported``/``TrainingFailed`` the reporter appended for it, a predictions
import by its finished outcome. A delivery whose last call failed permanently is parked
again. Anything not proven is left out, so the reporter
delivers it again — which is safe: statuses are idempotent at Labelbox, an export is
read-only, and an import is found by its name before one is created."""

from __future__ import annotations

from dataclasses import dataclass

from eventlog.postgres import Database

# The lines sent, from the delivery's create (or find) request.
_LINES = """(SELECT (f.request->>'lines')::int FROM labelbox_calls f
            WHERE f.stream_id = c.stream_id AND f.delivery_key = c.delivery_key
              AND f.request ? 'lines' LIMIT 1)"""

_STATUSES = """
INSERT INTO reporter_deliveries (stream_id, delivery_key, model_run_id, attempt, action,
                                 cause_event_id, state, result, calls)
SELECT DISTINCT ON (c.stream_id, c.delivery_key)
       c.stream_id, c.delivery_key, c.model_run_id, c.run_attempt, c.action, c.cause_event_id,
       'delivered', jsonb_build_object('status', c.request->>'status'), 0
FROM labelbox_calls c
WHERE ((c.action IN ('status', 'complete') AND c.sdk_method = 'ModelRun.update_status')
       OR (c.action = 'config' AND c.sdk_method = 'ModelRun.update_config'))
  AND c.outcome = 'ok' AND c.delivery_key IS NOT NULL
ORDER BY c.stream_id, c.delivery_key, c.call_id DESC
"""

_EXPORTS = """
INSERT INTO reporter_deliveries (stream_id, delivery_key, model_run_id, attempt, action,
                                 cause_event_id, state, result, calls)
SELECT DISTINCT ON (c.stream_id, c.delivery_key)
       c.stream_id, c.delivery_key, c.model_run_id, c.run_attempt, 'export', c.cause_event_id,
       'delivered',
       CASE WHEN e.event_type = 'DataExported' THEN e.data - 'attempt' - 'bytes'
            ELSE jsonb_build_object('exportTaskId', c.export_task_id, 'status', 'FAILED') END,
       0
FROM labelbox_calls c
JOIN events e ON e.stream_id = c.stream_id
             AND e.metadata->>'producer' = 'reporter'
             AND e.metadata->>'causation_id' = c.cause_event_id::text
             AND e.event_type IN ('DataExported', 'TrainingFailed')
WHERE c.action = 'export' AND c.delivery_key IS NOT NULL
ORDER BY c.stream_id, c.delivery_key, e.stream_version
"""

_FINISHED_IMPORTS = f"""
INSERT INTO reporter_deliveries (stream_id, delivery_key, model_run_id, attempt, action,
                                 cause_event_id, state, result, calls)
SELECT DISTINCT ON (c.stream_id, c.delivery_key)
       c.stream_id, c.delivery_key, c.model_run_id, c.run_attempt, 'predictions',
       c.cause_event_id, 'delivered',
       jsonb_build_object('importId', c.import_id, 'name', c.request->>'name',
                          'state', 'FINISHED',
                          'rows', {_LINES})
         || coalesce(c.response, '{{}}'::jsonb),
       0
FROM labelbox_calls c
WHERE c.action = 'predictions' AND c.sdk_method = 'MEAPredictionImport.statuses'
  AND c.outcome = 'ok' AND c.delivery_key IS NOT NULL
ORDER BY c.stream_id, c.delivery_key, c.call_id DESC
"""

# An import Labelbox failed: the reporter appended TrainingFailed (UPLOADING_PREDICTIONS).
_FAILED_IMPORTS = f"""
INSERT INTO reporter_deliveries (stream_id, delivery_key, model_run_id, attempt, action,
                                 cause_event_id, state, result, calls)
SELECT DISTINCT ON (c.stream_id, c.delivery_key)
       c.stream_id, c.delivery_key, c.model_run_id, c.run_attempt, 'predictions',
       c.cause_event_id, 'delivered',
       jsonb_build_object('importId', c.import_id, 'name', c.request->>'name',
                          'state', 'FAILED', 'rows', {_LINES}),
       0
FROM labelbox_calls c
JOIN events e ON e.stream_id = c.stream_id AND e.event_type = 'TrainingFailed'
             AND e.metadata->>'producer' = 'reporter'
             AND e.metadata->>'causation_id' = c.cause_event_id::text
WHERE c.action = 'predictions' AND c.import_id IS NOT NULL AND c.delivery_key IS NOT NULL
ON CONFLICT (stream_id, delivery_key) DO NOTHING
"""

# Parked: the delivery's last call failed permanently and nothing proved it delivered since.
_PARKED = """
INSERT INTO reporter_deliveries (stream_id, delivery_key, model_run_id, attempt, action,
                                 cause_event_id, state, result, error, calls)
SELECT last.stream_id, last.delivery_key, last.model_run_id,
       last.run_attempt, last.action,
       last.cause_event_id, 'parked',
       jsonb_build_object('permanent', true, 'tries', last.call_try),
       last.sdk_method || ': permanent error: ' || last.error_type || ': ' || last.error, 0
FROM (
    SELECT DISTINCT ON (stream_id, delivery_key) *
    FROM labelbox_calls WHERE delivery_key IS NOT NULL
    ORDER BY stream_id, delivery_key, call_id DESC
) last
WHERE last.outcome = 'permanent_error'
ON CONFLICT (stream_id, delivery_key) DO NOTHING
"""

_CALL_COUNTS = """
UPDATE reporter_deliveries d SET calls = counted.calls
FROM (SELECT stream_id, delivery_key, count(*) AS calls FROM labelbox_calls
      WHERE delivery_key IS NOT NULL GROUP BY stream_id, delivery_key) counted
WHERE d.stream_id = counted.stream_id AND d.delivery_key = counted.delivery_key
"""


@dataclass(frozen=True)
class ReplayReport:
    before: int
    delivered: int
    parked: int

    @property
    def after(self) -> int:
        return self.delivered + self.parked


async def replay_ledger(database: Database, *, dry_run: bool = False) -> ReplayReport:
    """Rebuild ``reporter_deliveries`` in one transaction (rolled back with ``dry_run``).
    Running reporters wait for it (the table is locked), then carry on from the result."""
    async with database.connection() as connection:
        transaction = connection.transaction()
        await transaction.start()
        try:
            await connection.execute("LOCK TABLE reporter_deliveries IN EXCLUSIVE MODE")
            before: int = await connection.fetchval("SELECT count(*) FROM reporter_deliveries")
            await connection.execute("DELETE FROM reporter_deliveries")
            for statement in (_STATUSES, _EXPORTS, _FINISHED_IMPORTS, _FAILED_IMPORTS,
                              _PARKED, _CALL_COUNTS):
                await connection.execute(statement)
            counts = await connection.fetchrow(
                "SELECT count(*) FILTER (WHERE state = 'delivered') AS delivered, "
                "count(*) FILTER (WHERE state = 'parked') AS parked FROM reporter_deliveries")
        except BaseException:
            await transaction.rollback()
            raise
        if dry_run:
            await transaction.rollback()
        else:
            await transaction.commit()
    return ReplayReport(before, counts["delivered"], counts["parked"])
