"""Model types the trainers can train, as each trainer last announced them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE model_types (
            model_type   text        PRIMARY KEY CHECK (model_type <> ''),
            description  text        NOT NULL DEFAULT '',
            announced_by text        NOT NULL,
            announced_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        "COMMENT ON TABLE model_types IS 'Written by trainers at start-up (they announce the "
        "pipelines they can run); read by ingest for GET /models. Survives trainers being down.'"
    )


def downgrade() -> None:
    op.execute("DROP TABLE model_types")
