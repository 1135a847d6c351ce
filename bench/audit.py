"""Audit benchmark (not a test): how fast the operator commands and the audit views answer
with a large log, and how much the log grows per run. In one run:

- writes ``--runs`` model runs (100,000 by default) straight into a fresh database through
  the real schema and its triggers: ~11 events, ~14 Labelbox calls and ~9 ledger rows per
  complete run (10 % failed runs, 2 % still in progress, 0.5 % parked on a permanent
  error, a retried call in every 7th run; four model types; one run every 20 s);
- times what ``trainbridge runs`` (default limit, and with each filter), ``trainbridge audit
  <id>`` and ``trainbridge parked`` call, and the raw view queries, each the median of
  ``--repeat`` runs;
- against a baseline in the same database: a primary-key lookup of one event row;
- prints the bytes per run of events + labelbox_calls + reporter_deliveries (tables, indexes
  and TOAST: ``pg_total_relation_size``).

Uses TRAINBRIDGE_TEST_DATABASE_URL (or TRAINBRIDGE_DATABASE_URL); creates and drops its own
database.

    .venv/bin/python bench/audit.py [--runs 100000] [--repeat 15] [--keep]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/eventlog.py is named like the package: keep this folder off the import path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.append(str(_HERE.parent))  # the repository, for bench.support

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bench.support import database_url
from eventlog.migrate import upgrade
from eventlog.postgres import create_pool
from eventlog.settings import DatabaseSettings
from trainbridge import operator

BATCH = 500  # runs per transaction (the audit chain takes one advisory lock per run)

# (kind, version, event type, stage): what each kind of run has recorded.
_STEPS = """
(VALUES
  ('ok', 1, 'TrainingRequested', NULL), ('ok', 2, 'DataExportRequested', NULL),
  ('ok', 3, 'DataExported', NULL), ('ok', 4, 'StageStarted', 'PREPARING_DATA'),
  ('ok', 5, 'StageStarted', 'TRAINING_MODEL'), ('ok', 6, 'StageStarted', 'EVALUATING'),
  ('ok', 7, 'ModelEvaluated', NULL), ('ok', 8, 'StageStarted', 'PREDICTING'),
  ('ok', 9, 'PredictionsProduced', NULL), ('ok', 10, 'TrainingCompleted', NULL),
  ('failed', 1, 'TrainingRequested', NULL), ('failed', 2, 'DataExportRequested', NULL),
  ('failed', 3, 'DataExported', NULL), ('failed', 4, 'StageStarted', 'PREPARING_DATA'),
  ('failed', 5, 'StageStarted', 'TRAINING_MODEL'), ('failed', 6, 'TrainingFailed', NULL),
  ('running', 1, 'TrainingRequested', NULL), ('running', 2, 'DataExportRequested', NULL),
  ('running', 3, 'DataExported', NULL), ('running', 4, 'StageStarted', 'PREPARING_DATA'),
  ('parked', 1, 'TrainingRequested', NULL), ('parked', 2, 'DataExportRequested', NULL)
) AS s(kind, version, event_type, stage)
"""

# (kind, n, delivery key, action, sdk method, status shown): each kind's Labelbox calls.
_CALLS = """
(VALUES
  ('*', 1, 'status/EXPORTING_DATA', 'status', 'ModelRun.update_status', 'EXPORTING_DATA'),
  ('+', 2, 'export', 'export', 'ModelRun.export', NULL),
  ('+', 3, 'export', 'export', 'ExportTask.get_task', NULL),
  ('+', 4, 'export', 'export', 'ExportTask.get_buffered_stream', NULL),
  ('+', 5, 'stage/PREPARING_DATA', 'status', 'ModelRun.update_status', 'PREPARING_DATA'),
  ('f', 6, 'stage/TRAINING_MODEL', 'status', 'ModelRun.update_status', 'TRAINING_MODEL'),
  ('f', 7, 'status/FAILED', 'status', 'ModelRun.update_status', 'FAILED'),
  ('o', 6, 'stage/TRAINING_MODEL', 'status', 'ModelRun.update_status', 'TRAINING_MODEL'),
  ('o', 7, 'stage/EVALUATING', 'status', 'ModelRun.update_status', 'TRAINING_MODEL'),
  ('o', 8, 'metrics', 'status', 'ModelRun.update_status', 'TRAINING_MODEL'),
  ('o', 9, 'stage/PREDICTING', 'status', 'ModelRun.update_status', 'TRAINING_MODEL'),
  ('o', 10, 'predictions', 'predictions', 'MEAPredictionImport.from_name', NULL),
  ('o', 11, 'predictions', 'predictions', 'ModelRun.add_predictions', NULL),
  ('o', 12, 'predictions', 'predictions', 'MEAPredictionImport.from_name', NULL),
  ('o', 13, 'predictions', 'predictions', 'MEAPredictionImport.statuses', NULL),
  ('o', 14, 'status/COMPLETE', 'complete', 'ModelRun.update_status', 'COMPLETE')
) AS k(kinds, n, key, action, sdk_method, status)
"""

_RUNS_CTE = """
runs AS (
    SELECT i, 'bench-' || lpad(i::text, 7, '0') AS run,
           'model_run-bench-' || lpad(i::text, 7, '0') AS stream_id,
           (ARRAY['text_single_classification', 'image_single_classification',
                  'text_multi_classification', 'bounding_box'])[1 + i % 4] AS model_type,
           CASE WHEN i > $3 - $3 / 50 THEN 'running' WHEN i % 200 = 7 THEN 'parked'
                WHEN i % 10 = 3 THEN 'failed' ELSE 'ok' END AS kind,
           now() - make_interval(secs => ($3 - i) * 20.0 + 60) AS t0,
           md5(i::text) || md5((i + 1)::text) AS digest
    FROM generate_series($1::int, $2::int) AS i
)
"""

_EVENTS = f"""
WITH {_RUNS_CTE}
INSERT INTO events (stream_id, stream_version, event_id, event_type, data, metadata,
                    recorded_at)
SELECT r.stream_id, s.version, gen_random_uuid(), s.event_type,
       jsonb_build_object('attempt', 1) || CASE s.event_type
         WHEN 'TrainingRequested' THEN jsonb_build_object(
           'modelRunId', r.run, 'modelId', 'model-' || r.i % 97, 'modelType', r.model_type,
           'receivedAt', r.t0, 'remoteAddress', '203.0.113.7', 'secretIndex', 0,
           'bodySha256', r.digest, 'signatureAlgorithms', jsonb_build_array('sha1'))
         WHEN 'DataExportRequested' THEN jsonb_build_object(
           'modelRunId', r.run, 'modelId', 'model-' || r.i % 97)
         WHEN 'DataExported' THEN jsonb_build_object(
           'uri', 's3://trainbridge-artifacts/' || r.stream_id || '/attempt-1/export.ndjson',
           'sha256', r.digest, 'bytes', 412345, 'rows', 200, 'labels', 196,
           'splits', jsonb_build_object('training', 160, 'validation', 20, 'test', 20),
           'exportTaskId', 'export-task-' || r.i)
         WHEN 'StageStarted' THEN jsonb_build_object(
           'stage', s.stage, 'metadata', CASE s.stage WHEN 'PREPARING_DATA'
             THEN jsonb_build_object('rows', '200') WHEN 'TRAINING_MODEL'
             THEN jsonb_build_object('C', '1.0', 'max_iter', '1000') ELSE '{{}}' END)
         WHEN 'ModelEvaluated' THEN jsonb_build_object(
           'metrics', jsonb_build_object('accuracy', 0.9375, 'macro_f1', 0.91,
             'evaluated_split', 'test', 'evaluated_rows', 20,
             'confusion', jsonb_build_object('positive', jsonb_build_object('positive', 9,
               'negative', 1), 'negative', jsonb_build_object('positive', 0,
               'negative', 10))),
           'metricsUri', 's3://trainbridge-artifacts/' || r.stream_id || '/metrics.json',
           'metricsSha256', r.digest)
         WHEN 'PredictionsProduced' THEN jsonb_build_object(
           'uri', 's3://trainbridge-artifacts/' || r.stream_id || '/predictions.ndjson',
           'sha256', r.digest, 'count', 200, 'classification', 'sentiment')
         WHEN 'TrainingCompleted' THEN jsonb_build_object(
           'modelUri', 's3://trainbridge-artifacts/' || r.stream_id || '/model.joblib',
           'modelSha256', r.digest, 'metadata', jsonb_build_object(
             'model_weights', 's3://trainbridge-artifacts/' || r.stream_id || '/model.joblib',
             'accuracy', '0.9375'))
         ELSE jsonb_build_object(
           'stage', 'TRAINING_MODEL', 'retryable', false,
           'message', 'training failed: the classifier needs at least two classes',
           'detail', 'ValueError: The number of classes has to be greater than one; got 1 '
                     'class (traceback in the trainer log, correlation id below)')
       END,
       jsonb_build_object('producer', CASE WHEN s.version = 1 THEN 'ingest'
                                           WHEN s.event_type = 'DataExported' THEN 'reporter'
                                           ELSE 'trainer' END,
                          'correlation_id', md5(r.run), 'causation_id', gen_random_uuid(),
                          'schema_version', 1,
                          'traceparent', '00-' || md5(r.run) || '-' || left(r.digest, 16)
                                         || '-01'),
       r.t0 + make_interval(secs => s.version * 30)
FROM runs r JOIN {_STEPS} ON s.kind = r.kind
ORDER BY r.stream_id, s.version
"""

_LABELBOX_CALLS = f"""
WITH {_RUNS_CTE},
planned AS (
    SELECT r.*, k.n, k.key, k.action, k.sdk_method, k.status, 'ok' AS outcome, 1 AS try
    FROM runs r JOIN {_CALLS} ON k.kinds = '*'
        OR (k.kinds = '+' AND r.kind <> 'parked') OR (k.kinds = 'f' AND r.kind = 'failed')
        OR (k.kinds = 'o' AND r.kind = 'ok')
    UNION ALL  -- every 7th run: the first call failed once (a 503) and was retried
    SELECT r.*, 0, 'status/EXPORTING_DATA', 'status', 'ModelRun.update_status',
           'EXPORTING_DATA', 'retryable_error', 1
    FROM runs r WHERE r.i % 7 = 0
)
INSERT INTO labelbox_calls (model_run_id, stream_id, cause_event_id, delivery_key, action,
    sdk_method, request, response, call_try, started_at, ended_at, duration_ms, outcome,
    error_type, error, import_id, export_task_id, correlation_id, reporter_id, run_attempt)
SELECT p.run, p.stream_id, gen_random_uuid(), 'attempt-1/' || p.key, p.action, p.sdk_method,
       CASE WHEN p.status IS NOT NULL THEN jsonb_build_object(
              'modelRunId', p.run, 'status', p.status, 'errorMessage',
              CASE p.status WHEN 'FAILED'
                THEN 'training failed: the classifier needs at least two classes' END,
              'metadata', jsonb_build_object('stage', p.status, 'attempt', '1'))
            WHEN p.sdk_method = 'ModelRun.add_predictions' THEN jsonb_build_object(
              'modelRunId', p.run, 'name', 'trainbridge-' || p.run || '-attempt-1-'
              || left(p.digest, 12), 'lines', 200, 'sha256', p.digest,
              'uri', 's3://trainbridge-artifacts/' || p.stream_id || '/predictions.ndjson')
            ELSE jsonb_build_object('modelRunId', p.run, 'taskId', 'export-task-' || p.i)
       END,
       CASE p.sdk_method WHEN 'ModelRun.export' THEN jsonb_build_object('taskId',
              'export-task-' || p.i)
            WHEN 'ExportTask.get_task' THEN '{{"status": "COMPLETE"}}'::jsonb
            WHEN 'ExportTask.get_buffered_stream' THEN '{{"rows": 200}}'::jsonb
            WHEN 'MEAPredictionImport.from_name' THEN CASE p.n WHEN 10
              THEN '{{"found": false}}'::jsonb ELSE jsonb_build_object('id', 'import-' || p.i,
              'state', 'FINISHED', 'progress', '100%') END
            WHEN 'ModelRun.add_predictions' THEN jsonb_build_object('id', 'import-' || p.i)
            WHEN 'MEAPredictionImport.statuses' THEN
              '{{"rowErrors": [], "failedRows": 0, "succeededRows": 200}}'::jsonb
       END,
       CASE WHEN p.n = 1 AND p.i % 7 = 0 THEN 2 ELSE p.try END,
       p.t0 + make_interval(secs => 31 + p.n * 20),
       p.t0 + make_interval(secs => 31 + p.n * 20 + 0.012), 12.0,
       CASE WHEN p.kind = 'parked' THEN 'permanent_error' ELSE p.outcome END,
       CASE WHEN p.kind = 'parked' THEN 'AuthorizationError'
            WHEN p.outcome <> 'ok' THEN 'InternalServerError' END,
       CASE WHEN p.kind = 'parked' THEN 'the API key may not update this model run'
            WHEN p.outcome <> 'ok' THEN 'Internal server http error 503' END,
       CASE WHEN p.action = 'predictions' AND p.n > 10 THEN 'import-' || p.i END,
       CASE WHEN p.action = 'export' THEN 'export-task-' || p.i END,
       md5(p.run), 'reporter-bench', 1
FROM planned p
ORDER BY p.run, p.n
"""

_DELIVERIES = f"""
WITH {_RUNS_CTE}
INSERT INTO reporter_deliveries (stream_id, delivery_key, model_run_id, attempt, action,
    cause_event_id, state, result, error, calls, created_at, updated_at)
SELECT DISTINCT ON (r.stream_id, k.key) r.stream_id, 'attempt-1/' || k.key, r.run, 1,
       k.action, gen_random_uuid(),
       CASE r.kind WHEN 'parked' THEN 'parked' ELSE 'delivered' END,
       CASE WHEN r.kind = 'parked' THEN '{{"attempts": 1, "permanent": true}}'::jsonb
            WHEN k.action = 'predictions' THEN jsonb_build_object('importId', 'import-' || r.i,
              'name', 'trainbridge-' || r.run || '-attempt-1-' || left(r.digest, 12),
              'state', 'FINISHED', 'rows', 200, 'failedRows', 0, 'succeededRows', 200,
              'rowErrors', '[]'::jsonb)
            WHEN k.action = 'export' THEN jsonb_build_object('exportTaskId',
              'export-task-' || r.i, 'rows', 200, 'labels', 196, 'sha256', r.digest)
            ELSE jsonb_build_object('status', k.status) END,
       CASE WHEN r.kind = 'parked' THEN 'ModelRun.update_status: permanent error: '
            'AuthorizationError: the API key may not update this model run' END,
       1, r.t0 + make_interval(secs => 31 + k.n * 20), r.t0 + make_interval(secs => 32 + k.n * 20)
FROM runs r JOIN {_CALLS} ON k.kinds = '*'
    OR (k.kinds = '+' AND r.kind <> 'parked') OR (k.kinds = 'f' AND r.kind = 'failed')
    OR (k.kinds = 'o' AND r.kind = 'ok')
WHERE NOT (r.kind = 'running' AND k.n > 5)
ORDER BY r.stream_id, k.key, k.n DESC
"""


async def generate(url: str, runs: int) -> None:
    connection = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        for low in range(1, runs + 1, BATCH):
            high = min(low + BATCH - 1, runs)
            async with connection.transaction():
                for statement in (_EVENTS, _LABELBOX_CALLS, _DELIVERIES):
                    await connection.execute(statement, low, high, runs)
            if high % 10_000 < BATCH or high == runs:
                print(f"  {high:,} runs written ({time.perf_counter() - started:.0f} s)",
                      flush=True)
        await connection.execute("VACUUM ANALYZE events, labelbox_calls, reporter_deliveries")
    finally:
        await connection.close()


async def median_ms(work: Callable[[], Awaitable[Any]], repeat: int) -> float:
    await work()  # warm: plan cache, buffers
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        await work()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


async def measure(url: str, runs: int, repeat: int) -> None:
    pool = await create_pool(DatabaseSettings(url=url, pool_size=2))
    try:
        async with pool.acquire() as connection:
            sizes = await connection.fetchrow(
                "SELECT pg_total_relation_size('events') AS events, "
                "pg_total_relation_size('labelbox_calls') AS calls, "
                "pg_total_relation_size('reporter_deliveries') AS deliveries, "
                "(SELECT count(*) FROM events) AS event_rows, "
                "(SELECT count(*) FROM labelbox_calls) AS call_rows, "
                "(SELECT count(*) FROM reporter_deliveries) AS delivery_rows")
            middle_position = await connection.fetchval(
                "SELECT global_position FROM events ORDER BY global_position "
                "OFFSET (SELECT count(*) / 2 FROM events) LIMIT 1")
        total = sizes["events"] + sizes["calls"] + sizes["deliveries"]
        print(f"\nlog: {runs:,} runs, {sizes['event_rows']:,} events, "
              f"{sizes['call_rows']:,} Labelbox calls, {sizes['delivery_rows']:,} deliveries")
        print(f"size: events {sizes['events'] / 2**20:,.1f} MiB, labelbox_calls "
              f"{sizes['calls'] / 2**20:,.1f} MiB, reporter_deliveries "
              f"{sizes['deliveries'] / 2**20:,.1f} MiB = {total / 2**20:,.1f} MiB; "
              f"{total / runs:,.0f} bytes per run (tables, indexes, TOAST)")

        old_run = f"bench-{runs // 3:07d}"  # a complete run deep in the log
        failed_run = f"bench-{(runs // 2) // 10 * 10 + 3:07d}"
        since = datetime.now(UTC) - timedelta(hours=6)
        raw_runs, _ = operator.runs_query(operator.RunFilter())
        cases: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("baseline: one event by primary key",
             lambda: pool.fetchrow("SELECT * FROM events WHERE global_position = $1",
                                   middle_position)),
            ("runs (newest 50)", lambda: operator.list_runs(pool, operator.RunFilter())),
            ("runs --status failed",
             lambda: operator.list_runs(pool, operator.RunFilter(status="FAILED"))),
            ("runs --status complete --model-type bounding_box",
             lambda: operator.list_runs(pool, operator.RunFilter(
                 status="COMPLETE", model_type="bounding_box"))),
            ("runs --since 6h --limit 1000",
             lambda: operator.list_runs(pool, operator.RunFilter(since=since, limit=1000))),
            (f"audit {old_run}", lambda: operator.run_audit(pool, old_run)),
            (f"audit {failed_run}", lambda: operator.run_audit(pool, failed_run)),
            ("parked", lambda: operator.parked_deliveries(pool)),
            ("SQL: model_runs ORDER BY requested_at DESC LIMIT 50",
             lambda: pool.fetch(raw_runs, 50)),
            ("SQL: model_runs WHERE model_run_id = ...",
             lambda: pool.fetch("SELECT * FROM model_runs WHERE model_run_id = $1", old_run)),
            ("SQL: run_timeline WHERE model_run_id = ... ORDER BY at",
             lambda: pool.fetch("SELECT * FROM run_timeline WHERE model_run_id = $1 "
                                "ORDER BY at, source, seq", old_run)),
            ("SQL: labelbox_delivery_problems newest 100",
             lambda: pool.fetch("SELECT * FROM labelbox_delivery_problems "
                                "ORDER BY at DESC LIMIT 100")),
            ("SQL: model_type_stats (whole log)",
             lambda: pool.fetch("SELECT * FROM model_type_stats")),
        ]
        settings = DatabaseSettings(url=url, pool_size=1)
        cases.append(("`trainbridge runs` end to end (connect, query, table)",
                      lambda: operator.runs_command(settings, operator.RunFilter(),
                                                    as_json=False)))
        cases.append((f"`trainbridge audit {old_run}` end to end",
                      lambda: operator.audit_command(settings, old_run, as_json=False)))
        print(f"\nmedian of {repeat} runs each, {runs:,} runs in the log:")
        baseline = 0.0
        for label, work in cases:
            ms = await median_ms(work, repeat)
            baseline = baseline or ms
            print(f"  {label:58s} {ms:9.2f} ms  {ms / baseline:8.1f}x baseline")
    finally:
        await pool.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--keep", action="store_true",
                        help="keep the database (its name is printed) instead of dropping it")
    args = parser.parse_args()

    name = f"tb_bench_audit_{os.getpid()}"
    admin = await asyncpg.connect(database_url("postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = database_url(name)
    try:
        await asyncio.to_thread(upgrade, url)
        print(f"writing {args.runs:,} runs into {name} ...", flush=True)
        await generate(url, args.runs)
        await measure(url, args.runs, args.repeat)
    finally:
        if args.keep:
            print(f"kept database {name}")
        else:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
