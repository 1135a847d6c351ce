"""Cheaper appends: the event hash chain is computed by the append statement, and one partial
index fewer on the events' write path.

- ``events_chain_hash_of(prev, columns...)``: the hash of migration 0006, unchanged (same bytes,
  so every stored hash stays valid and old and new rows verify as one chain), over columns
  instead of a row, so that the append statement (``eventlog.postgres.store``) computes it for
  the row it inserts, with the predecessor's hash read in the same index probe as the stream's
  head. ``events_chain_hash(prev, events)`` (what ``trainbridge verify`` recomputes) calls it.
- The ``events_chain`` trigger fires only for a row that comes without a hash, or whose link
  cannot be right (a first version with a ``prev_hash``, a later one without): any other
  writer's insert, which it chains as before. Fired for every row, the PL/pgSQL trigger cost
  ~130 µs of server CPU per single-event append (most of it per statement, not per hash).
- ``events_run_milestones_idx`` is dropped: ``model_runs`` finds a run's latest
  ``TrainingRequested`` through the stream's own (stream_id, stream_version) index, and
  ``model_type_stats`` is a whole-log report. Every ``TrainingRequested`` entered it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = """to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""

_HASH_OF = f"""
CREATE FUNCTION events_chain_hash_of(
    prev bytea, stream_id text, stream_version bigint, event_id uuid, event_type text,
    data jsonb, metadata jsonb, recorded_at timestamptz, global_position bigint,
    transaction_id xid8
) RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT sha256(coalesce(prev, ''::bytea) || convert_to(jsonb_build_array(
        stream_id, stream_version, event_id, event_type, data, metadata,
        {_UTC}, global_position, transaction_id::text
    )::text, 'UTF8'))
$$
"""

_CHAIN_HASH = """
CREATE OR REPLACE FUNCTION events_chain_hash(prev bytea, e events) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT events_chain_hash_of(prev, e.stream_id, e.stream_version, e.event_id, e.event_type,
                                e.data, e.metadata, e.recorded_at, e.global_position,
                                e.transaction_id)
$$
"""

_CHAIN_HASH_0006 = f"""
CREATE OR REPLACE FUNCTION events_chain_hash(prev bytea, e events) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT sha256(coalesce(prev, ''::bytea) || convert_to(jsonb_build_array(
        e.stream_id, e.stream_version, e.event_id, e.event_type, e.data, e.metadata,
        {_UTC.replace("recorded_at", "e.recorded_at")}, e.global_position, e.transaction_id::text
    )::text, 'UTF8'))
$$
"""

# A guard of plain column tests: a function call here would be planned again per statement.
_GUARDED_TRIGGER = (
    "CREATE TRIGGER events_chain BEFORE INSERT ON events FOR EACH ROW "
    "WHEN (NEW.chain_hash IS NULL OR (NEW.stream_version = 1) <> (NEW.prev_hash IS NULL)) "
    "EXECUTE FUNCTION events_chain()"
)

_MILESTONES = (
    "CREATE INDEX events_run_milestones_idx ON events (stream_id, stream_version) WHERE "
    "event_type IN ('TrainingRequested', 'TrainingCompleted', 'TrainingFailed')"
)


def upgrade() -> None:
    op.execute(_HASH_OF)
    op.execute(
        "COMMENT ON FUNCTION events_chain_hash_of(bytea, text, bigint, uuid, text, jsonb, "
        "jsonb, timestamptz, bigint, xid8) IS 'sha256(prev || UTF-8 of the jsonb array "
        "[stream_id, stream_version, event_id, event_type, data, metadata, recorded_at in UTC "
        "as YYYY-MM-DDTHH:MM:SS.ffffffZ, global_position, transaction_id as text])'"
    )
    op.execute(_CHAIN_HASH)
    op.execute("DROP TRIGGER events_chain ON events")
    op.execute(_GUARDED_TRIGGER)
    op.execute(
        "COMMENT ON COLUMN events.chain_hash IS 'events_chain_hash(prev_hash, row), set by "
        "the append statement (or by the events_chain trigger for a row that comes without "
        "it); prev_hash is the chain_hash of stream_version - 1'"
    )
    op.execute("DROP INDEX events_run_milestones_idx")


def downgrade() -> None:
    op.execute(_MILESTONES)
    op.execute("DROP TRIGGER events_chain ON events")
    op.execute(
        "CREATE TRIGGER events_chain BEFORE INSERT ON events "
        "FOR EACH ROW EXECUTE FUNCTION events_chain()"
    )
    op.execute(
        "COMMENT ON COLUMN events.chain_hash IS 'events_chain_hash(prev_hash, row), set by "
        "the events_chain trigger; prev_hash is the chain_hash of stream_version - 1'"
    )
    op.execute(_CHAIN_HASH_0006)
    op.execute("DROP FUNCTION events_chain_hash_of(bytea, text, bigint, uuid, text, jsonb, "
               "jsonb, timestamptz, bigint, xid8)")
