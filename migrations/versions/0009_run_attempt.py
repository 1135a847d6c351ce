"""A run's attempt and a call's try are two words: ``labelbox_calls.attempt`` (the call's try
number, 1 for the first try) becomes ``call_try``, and a new ``run_attempt`` column holds the
model run's attempt the call was made for, set by the reporter. ``run_timeline`` and
``trainbridge replay`` read it instead of parsing it out of ``delivery_key``.

Existing rows get ``run_attempt`` from their delivery key (``attempt-<n>/...``, the format
``services.reporter.delivery_keys`` owns; 1 where there is none, as the views assumed). A
check keeps the two in agreement, so ``run_attempt`` is as tamper-evident as the hashed
``delivery_key``. The hash chain covers the same values as before: its function now reads
``call_try`` where it read ``attempt``, and every stored hash stays valid.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""

_CHAIN_HASH = f"""
CREATE OR REPLACE FUNCTION labelbox_calls_chain_hash(prev bytea, c labelbox_calls)
RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT sha256(coalesce(prev, ''::bytea) || convert_to(jsonb_build_array(
        c.model_run_id, c.chain_seq, c.call_id, c.stream_id, c.cause_event_id,
        c.delivery_key, c.action, c.sdk_method, c.request, c.response, c.{{try_column}},
        {_UTC.format("c.started_at")}, {_UTC.format("c.ended_at")},
        encode(float8send(c.duration_ms), 'hex'), c.outcome, c.error_type, c.error,
        c.import_id, c.export_task_id, c.correlation_id, c.reporter_id
    )::text, 'UTF8'))
$$
"""

_CHAIN_HASH_COMMENT = (
    "COMMENT ON FUNCTION labelbox_calls_chain_hash(bytea, labelbox_calls) IS "
    "'sha256(prev || UTF-8 of the jsonb array [model_run_id, chain_seq, call_id, "
    "stream_id, cause_event_id, delivery_key, action, sdk_method, request, response, "
    "{try_column}, started_at, ended_at (UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ), duration_ms (hex "
    "of its IEEE 754 big-endian bytes), outcome, error_type, error, import_id, "
    "export_task_id, correlation_id, reporter_id]); run_attempt is checked against "
    "delivery_key (labelbox_calls_run_attempt_check)'"
)

# Same columns as migration 0005's, in the same order: only the attempt's source changes.
_RUN_TIMELINE = """
CREATE OR REPLACE VIEW run_timeline AS
SELECT substr(r.stream_id, 11) AS model_run_id, e.recorded_at AS at, 'event'::text AS source,
       e.event_type AS kind, coalesce((e.data->>'attempt')::int, 1) AS attempt,
       e.data AS detail, NULL::text AS outcome, e.stream_version AS seq
FROM events r JOIN events e ON e.stream_id = r.stream_id
WHERE r.stream_version = 1 AND r.event_type = 'TrainingRequested'
UNION ALL
SELECT c.model_run_id, c.started_at, 'labelbox', c.sdk_method, {attempt},
       jsonb_strip_nulls(jsonb_build_object(
           'action', c.action, 'delivery_key', c.delivery_key, 'try', c.{try_column},
           'request', c.request, 'response', c.response,
           'duration_ms', round(c.duration_ms::numeric, 1), 'error_type', c.error_type,
           'error', c.error, 'import_id', c.import_id, 'export_task_id', c.export_task_id,
           'call_id', c.call_id)),
       c.outcome, c.call_id
FROM labelbox_calls c
"""

_KEY_ATTEMPT = "coalesce(substring(c.delivery_key FROM '^attempt-([0-9]+)/')::int, 1)"


def upgrade() -> None:
    op.execute("ALTER TABLE labelbox_calls RENAME COLUMN attempt TO call_try")
    op.execute("ALTER TABLE labelbox_calls RENAME CONSTRAINT labelbox_calls_attempt_check "
               "TO labelbox_calls_call_try_check")
    op.execute(_CHAIN_HASH.format(try_column="call_try"))
    op.execute(_CHAIN_HASH_COMMENT.format(try_column="call_try"))
    op.execute("ALTER TABLE labelbox_calls ADD COLUMN run_attempt integer")
    op.execute("ALTER TABLE labelbox_calls DISABLE TRIGGER labelbox_calls_append_only")
    op.execute(f"UPDATE labelbox_calls c SET run_attempt = {_KEY_ATTEMPT}")
    op.execute("ALTER TABLE labelbox_calls ENABLE TRIGGER labelbox_calls_append_only")
    op.execute("ALTER TABLE labelbox_calls ALTER COLUMN run_attempt SET NOT NULL")
    op.execute(
        "ALTER TABLE labelbox_calls ADD CONSTRAINT labelbox_calls_run_attempt_check CHECK "
        "(run_attempt >= 1 AND (delivery_key IS NULL "
        "OR starts_with(delivery_key, 'attempt-' || run_attempt || '/')))"
    )
    op.execute(
        "COMMENT ON COLUMN labelbox_calls.run_attempt IS 'The model run''s attempt this call "
        "was made for (the attempt in its delivery_key)'"
    )
    op.execute(
        "COMMENT ON COLUMN labelbox_calls.call_try IS 'This call''s try: 1, then one more "
        "each time the reporter repeated it after a transient failure'"
    )
    op.execute(_RUN_TIMELINE.format(attempt="c.run_attempt", try_column="call_try"))


def downgrade() -> None:
    op.execute(_RUN_TIMELINE.format(attempt=_KEY_ATTEMPT, try_column="call_try"))
    op.execute("ALTER TABLE labelbox_calls DROP CONSTRAINT labelbox_calls_run_attempt_check")
    op.execute("ALTER TABLE labelbox_calls DROP COLUMN run_attempt")
    op.execute("ALTER TABLE labelbox_calls RENAME CONSTRAINT labelbox_calls_call_try_check "
               "TO labelbox_calls_attempt_check")
    op.execute("ALTER TABLE labelbox_calls RENAME COLUMN call_try TO attempt")
    op.execute(_CHAIN_HASH.format(try_column="attempt"))
    op.execute(_CHAIN_HASH_COMMENT.format(try_column="attempt")
               .replace("; run_attempt is checked against delivery_key "
                        "(labelbox_calls_run_attempt_check)", ""))
