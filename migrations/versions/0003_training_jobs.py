"""Training jobs: the trainer's durable claim on a run, with a lease another trainer can
take over when it expires (the trainer never holds a RabbitMQ delivery while training).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE training_jobs (
            stream_id     text        NOT NULL,
            attempt       integer     NOT NULL,
            model_type    text        NOT NULL,
            model_run_id  text        NOT NULL,
            model_id      text,
            export_uri    text        NOT NULL,
            export_sha256 text        NOT NULL,
            status        text        NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'running', 'done', 'failed')),
            claimed_by    text,
            lease_until   timestamptz,
            claims        integer     NOT NULL DEFAULT 0,
            created_at    timestamptz NOT NULL DEFAULT now(),
            updated_at    timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (stream_id, attempt)
        )
        """
    )
    op.execute(
        "CREATE INDEX training_jobs_claimable_idx ON training_jobs (created_at) "
        "WHERE status IN ('pending', 'running')"
    )


def downgrade() -> None:
    op.execute("DROP TABLE training_jobs")
