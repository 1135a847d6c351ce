"""Every service role may read the schema revision (``alembic_version``): services check it
at start and refuse to run on a schema older than their code.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("GRANT SELECT ON alembic_version TO trainbridge_relay")


def downgrade() -> None:
    op.execute("REVOKE SELECT ON alembic_version FROM trainbridge_relay")
