"""Least privilege: one PostgreSQL role per service, with only the grants it needs. Nobody
but the owner can UPDATE, DELETE or TRUNCATE ``events`` or ``labelbox_calls``.

Roles are cluster-wide, so they are created only if missing and never dropped by a
downgrade (another database may use them). They are NOLOGIN group roles; `trainbridge
migrate` gives a role LOGIN and a password when ``TRAINBRIDGE_<SERVICE>_DATABASE_PASSWORD``
is set (docker compose does), and a login of your own can be made a member instead.

- ``trainbridge_relay`` (every service runs an outbox relay): read events; on ``outbox`` only
  the delivery bookkeeping columns (published_at, attempts, last_error, available_at).
- ``trainbridge_ingest``: append (INSERT events and outbox rows), read events and
  model_types. It cannot read the audit log, and apart from the relay's bookkeeping it
  cannot UPDATE anything.
- ``trainbridge_trainer``: append, its inbox, model_types (announce), training_jobs.
- ``trainbridge_reporter``: append, its ledger, checkpoints, and INSERT-only audit log.
- ``trainbridge_operator`` (people and the operator commands): read everything, append
  (``trainbridge retry``), mark parked deliveries for a redrive.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = ("trainbridge_relay", "trainbridge_ingest", "trainbridge_trainer",
         "trainbridge_reporter", "trainbridge_operator")
SERVICES = ("trainbridge_ingest", "trainbridge_trainer", "trainbridge_reporter",
            "trainbridge_operator")

GRANTS = [
    # the relay's bookkeeping, shared by every service through membership
    "GRANT SELECT ON events TO trainbridge_relay",
    "GRANT SELECT ON outbox TO trainbridge_relay",
    "GRANT UPDATE (published_at, attempts, last_error, available_at) ON outbox "
    "TO trainbridge_relay",
    # appending, for every service
    *[f"GRANT SELECT, INSERT ON events TO {role}" for role in SERVICES],
    *[f"GRANT INSERT ON outbox TO {role}" for role in SERVICES],
    *[f"GRANT USAGE ON SEQUENCE events_global_position_seq, outbox_id_seq TO {role}"
      for role in SERVICES],
    *[f"GRANT trainbridge_relay TO {role}" for role in SERVICES],
    # ingest
    "GRANT SELECT ON model_types TO trainbridge_ingest",
    # trainer
    "GRANT SELECT, INSERT ON inbox TO trainbridge_trainer",
    "GRANT SELECT, INSERT, UPDATE ON model_types TO trainbridge_trainer",
    "GRANT SELECT, INSERT, UPDATE ON training_jobs TO trainbridge_trainer",
    # reporter
    "GRANT SELECT, INSERT, UPDATE ON reporter_deliveries TO trainbridge_reporter",
    "GRANT SELECT, INSERT, UPDATE ON reporter_checkpoints TO trainbridge_reporter",
    "GRANT SELECT, INSERT ON labelbox_calls TO trainbridge_reporter",
    "GRANT USAGE ON SEQUENCE labelbox_calls_call_id_seq TO trainbridge_reporter",
    # operators
    "GRANT SELECT ON ALL TABLES IN SCHEMA public TO trainbridge_operator",
    "GRANT UPDATE (state, redrives, updated_at) ON reporter_deliveries "
    "TO trainbridge_operator",
]


def upgrade() -> None:
    for role in ROLES:
        op.execute(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') "
            f"THEN CREATE ROLE {role} NOLOGIN; END IF; END $$"
        )
    op.execute("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC")
    for grant in GRANTS:
        op.execute(grant)


def downgrade() -> None:
    for role in ROLES:
        op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
        op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}")
