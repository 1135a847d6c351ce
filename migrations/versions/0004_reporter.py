"""Reporter: its delivery ledger (what Labelbox has been shown, per model run) and the
append-only audit log of every Labelbox call it attempted.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE reporter_deliveries (
            stream_id       text        NOT NULL,
            delivery_key    text        NOT NULL,
            model_run_id    text        NOT NULL,
            attempt         integer     NOT NULL,
            action          text        NOT NULL,
            cause_event_id  uuid        NOT NULL,
            state           text        NOT NULL
                CHECK (state IN ('delivered', 'parked', 'redrive_requested')),
            result          jsonb       NOT NULL DEFAULT '{}'::jsonb,
            error           text,
            calls           integer     NOT NULL DEFAULT 0,
            redrives        integer     NOT NULL DEFAULT 0,
            created_at      timestamptz NOT NULL DEFAULT now(),
            updated_at      timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (stream_id, delivery_key)
        )
        """
    )
    op.execute(
        "COMMENT ON TABLE reporter_deliveries IS 'The reporter''s ledger: one row per "
        "delivery to Labelbox that finished (delivered) or needs an operator (parked)'"
    )
    op.execute(
        "CREATE INDEX reporter_deliveries_waiting_idx ON reporter_deliveries (state) "
        "WHERE state <> 'delivered'"
    )
    op.execute(
        """
        CREATE TABLE labelbox_calls (
            call_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            model_run_id    text        NOT NULL,
            stream_id       text        NOT NULL,
            cause_event_id  uuid,
            delivery_key    text,
            action          text        NOT NULL,
            sdk_method      text        NOT NULL,
            request         jsonb       NOT NULL DEFAULT '{}'::jsonb,
            response        jsonb,
            attempt         integer     NOT NULL CHECK (attempt >= 1),
            started_at      timestamptz NOT NULL,
            ended_at        timestamptz NOT NULL,
            duration_ms     double precision NOT NULL,
            outcome         text        NOT NULL
                CHECK (outcome IN ('ok', 'retryable_error', 'permanent_error')),
            error_type      text,
            error           text,
            import_id       text,
            export_task_id  text,
            correlation_id  text,
            reporter_id     text        NOT NULL
        )
        """
    )
    op.execute(
        "COMMENT ON TABLE labelbox_calls IS 'Append-only audit log: one row per attempted "
        "Labelbox SDK call made by the reporter'"
    )
    op.execute(
        "CREATE INDEX labelbox_calls_model_run_idx ON labelbox_calls (model_run_id, call_id)"
    )
    op.execute(
        """
        CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER labelbox_calls_append_only BEFORE UPDATE OR DELETE ON labelbox_calls "
        "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER labelbox_calls_no_truncate BEFORE TRUNCATE ON labelbox_calls "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
    )
    op.execute(
        """
        CREATE TABLE reporter_checkpoints (
            name            text        PRIMARY KEY,
            transaction_id  bigint      NOT NULL,
            global_position bigint      NOT NULL,
            updated_at      timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        "COMMENT ON TABLE reporter_checkpoints IS 'How far the reporter''s sweep has "
        "read the global event log (the backstop for messages it never received)'"
    )


def downgrade() -> None:
    op.execute("DROP TABLE reporter_checkpoints")
    op.execute("DROP TABLE labelbox_calls")
    op.execute("DROP FUNCTION audit_refuse_change()")
    op.execute("DROP TABLE reporter_deliveries")
