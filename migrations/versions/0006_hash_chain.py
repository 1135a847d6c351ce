"""Tamper evidence: every event row and every audit row carries a SHA-256 hash chaining it to
its predecessor, computed by the database itself so that no writer can forget it.

- ``events``: chained per stream. ``prev_hash`` is the ``chain_hash`` of the same stream's
  previous version (NULL for version 1) and ``chain_hash = sha256(prev_hash || content)``.
- ``labelbox_calls``: chained per model run. ``chain_seq`` numbers a run's rows 1, 2, 3...
  (gapless, like a stream version; assigned under a per-run advisory lock, because call ids
  come from a sequence and need not commit in order) and ``prev_hash`` is the hash of the
  run's previous ``chain_seq``.

``content`` is the UTF-8 text of a jsonb array of the row's columns (``*_chain_hash()``
below): jsonb's text form is canonical, timestamps are written in UTC with a fixed format
(``timestamptz::text`` would follow the session's TimeZone) and ``duration_ms`` by its IEEE
bytes (its text form follows extra_float_digits). ``trainbridge verify`` recomputes the
chains. Existing rows are chained here, in their stream (run) order.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUDIT_CHAIN_LOCK_NAMESPACE = 0x6C62  # first key of the per-model-run advisory locks

_UTC = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


def upgrade() -> None:
    # ---------------------------------------------------------------- events
    op.execute("ALTER TABLE events ADD COLUMN prev_hash bytea, ADD COLUMN chain_hash bytea")
    op.execute(
        f"""
        CREATE FUNCTION events_chain_hash(prev bytea, e events) RETURNS bytea
        LANGUAGE sql STABLE PARALLEL SAFE AS $$
            SELECT sha256(coalesce(prev, ''::bytea) || convert_to(jsonb_build_array(
                e.stream_id, e.stream_version, e.event_id, e.event_type, e.data, e.metadata,
                {_UTC.format("e.recorded_at")}, e.global_position, e.transaction_id::text
            )::text, 'UTF8'))
        $$
        """
    )
    op.execute(
        "COMMENT ON FUNCTION events_chain_hash(bytea, events) IS 'sha256(prev || UTF-8 of "
        "the jsonb array [stream_id, stream_version, event_id, event_type, data, metadata, "
        "recorded_at in UTC as YYYY-MM-DDTHH:MM:SS.ffffffZ, global_position, "
        "transaction_id as text])'"
    )
    # Row-level BEFORE triggers see the rows the same statement inserted before: a
    # multi-event append (inserted in version order) chains each event to the previous one.
    op.execute(
        """
        CREATE FUNCTION events_chain() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.stream_version = 1 THEN
                NEW.prev_hash := NULL;
            ELSE
                SELECT e.chain_hash INTO NEW.prev_hash FROM events e
                WHERE e.stream_id = NEW.stream_id AND e.stream_version = NEW.stream_version - 1;
                IF NOT FOUND THEN
                    RAISE EXCEPTION 'events: stream % has no version % to chain version % to',
                        NEW.stream_id, NEW.stream_version - 1, NEW.stream_version
                        USING ERRCODE = 'foreign_key_violation';
                END IF;
            END IF;
            NEW.chain_hash := events_chain_hash(NEW.prev_hash, NEW);
            RETURN NEW;
        END
        $$
        """
    )
    op.execute("ALTER TABLE events DISABLE TRIGGER events_append_only")
    op.execute(
        """
        DO $$
        DECLARE
            r events;
            prev bytea;
            chain text;
        BEGIN
            FOR r IN SELECT * FROM events ORDER BY stream_id, stream_version LOOP
                IF chain IS DISTINCT FROM r.stream_id THEN
                    prev := NULL;
                    chain := r.stream_id;
                END IF;
                UPDATE events SET prev_hash = prev, chain_hash = events_chain_hash(prev, r)
                WHERE global_position = r.global_position
                RETURNING chain_hash INTO prev;
            END LOOP;
        END
        $$
        """
    )
    op.execute("ALTER TABLE events ENABLE TRIGGER events_append_only")
    op.execute("ALTER TABLE events ALTER COLUMN chain_hash SET NOT NULL")
    op.execute(
        "CREATE TRIGGER events_chain BEFORE INSERT ON events "
        "FOR EACH ROW EXECUTE FUNCTION events_chain()"
    )
    op.execute(
        "COMMENT ON COLUMN events.chain_hash IS 'events_chain_hash(prev_hash, row), set by "
        "the events_chain trigger; prev_hash is the chain_hash of stream_version - 1'"
    )

    # ---------------------------------------------------------------- labelbox_calls
    op.execute(
        "ALTER TABLE labelbox_calls ADD COLUMN chain_seq bigint, "
        "ADD COLUMN prev_hash bytea, ADD COLUMN chain_hash bytea"
    )
    op.execute(
        f"""
        CREATE FUNCTION labelbox_calls_chain_hash(prev bytea, c labelbox_calls) RETURNS bytea
        LANGUAGE sql STABLE PARALLEL SAFE AS $$
            SELECT sha256(coalesce(prev, ''::bytea) || convert_to(jsonb_build_array(
                c.model_run_id, c.chain_seq, c.call_id, c.stream_id, c.cause_event_id,
                c.delivery_key, c.action, c.sdk_method, c.request, c.response, c.attempt,
                {_UTC.format("c.started_at")}, {_UTC.format("c.ended_at")},
                encode(float8send(c.duration_ms), 'hex'), c.outcome, c.error_type, c.error,
                c.import_id, c.export_task_id, c.correlation_id, c.reporter_id
            )::text, 'UTF8'))
        $$
        """
    )
    op.execute(
        "COMMENT ON FUNCTION labelbox_calls_chain_hash(bytea, labelbox_calls) IS "
        "'sha256(prev || UTF-8 of the jsonb array [model_run_id, chain_seq, call_id, "
        "stream_id, cause_event_id, delivery_key, action, sdk_method, request, response, "
        "attempt, started_at, ended_at (UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ), duration_ms (hex "
        "of its IEEE 754 big-endian bytes), outcome, error_type, error, import_id, "
        "export_task_id, correlation_id, reporter_id])'"
    )
    op.execute(
        f"""
        CREATE FUNCTION labelbox_calls_chain() RETURNS trigger LANGUAGE plpgsql
        SECURITY DEFINER SET search_path FROM CURRENT AS $$
        DECLARE
            prev_seq bigint;
        BEGIN
            -- Runs as its owner, so a writer needs INSERT only. Until this transaction ends,
            -- the run's next row waits here: it then sees this one.
            PERFORM pg_advisory_xact_lock({AUDIT_CHAIN_LOCK_NAMESPACE},
                                          hashtext(NEW.model_run_id));
            SELECT c.chain_seq, c.chain_hash INTO prev_seq, NEW.prev_hash
            FROM labelbox_calls c WHERE c.model_run_id = NEW.model_run_id
            ORDER BY c.chain_seq DESC LIMIT 1;
            NEW.chain_seq := coalesce(prev_seq, 0) + 1;
            NEW.chain_hash := labelbox_calls_chain_hash(NEW.prev_hash, NEW);
            RETURN NEW;
        END
        $$
        """
    )
    op.execute("ALTER TABLE labelbox_calls DISABLE TRIGGER labelbox_calls_append_only")
    op.execute(
        """
        DO $$
        DECLARE
            r labelbox_calls;
            prev bytea;
            chain text;
            seq bigint;
        BEGIN
            FOR r IN SELECT * FROM labelbox_calls ORDER BY model_run_id, call_id LOOP
                IF chain IS DISTINCT FROM r.model_run_id THEN
                    prev := NULL;
                    seq := 0;
                    chain := r.model_run_id;
                END IF;
                seq := seq + 1;
                r.chain_seq := seq;
                UPDATE labelbox_calls
                SET chain_seq = seq, prev_hash = prev,
                    chain_hash = labelbox_calls_chain_hash(prev, r)
                WHERE call_id = r.call_id
                RETURNING chain_hash INTO prev;
            END LOOP;
        END
        $$
        """
    )
    op.execute("ALTER TABLE labelbox_calls ENABLE TRIGGER labelbox_calls_append_only")
    op.execute(
        "ALTER TABLE labelbox_calls ALTER COLUMN chain_seq SET NOT NULL, "
        "ALTER COLUMN chain_hash SET NOT NULL"
    )
    op.execute(
        "CREATE UNIQUE INDEX labelbox_calls_chain_key ON labelbox_calls (model_run_id, chain_seq)"
    )
    op.execute(
        "CREATE TRIGGER labelbox_calls_chain BEFORE INSERT ON labelbox_calls "
        "FOR EACH ROW EXECUTE FUNCTION labelbox_calls_chain()"
    )
    op.execute(
        "COMMENT ON COLUMN labelbox_calls.chain_seq IS 'Position in the model run''s hash "
        "chain (1, 2, 3...; set by the labelbox_calls_chain trigger)'"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER labelbox_calls_chain ON labelbox_calls")
    op.execute("DROP INDEX labelbox_calls_chain_key")
    op.execute(
        "ALTER TABLE labelbox_calls DROP COLUMN chain_seq, DROP COLUMN prev_hash, "
        "DROP COLUMN chain_hash"
    )
    op.execute("DROP FUNCTION labelbox_calls_chain()")
    op.execute("DROP FUNCTION labelbox_calls_chain_hash(bytea, labelbox_calls)")
    op.execute("DROP TRIGGER events_chain ON events")
    op.execute("ALTER TABLE events DROP COLUMN prev_hash, DROP COLUMN chain_hash")
    op.execute("DROP FUNCTION events_chain()")
    op.execute("DROP FUNCTION events_chain_hash(bytea, events)")
