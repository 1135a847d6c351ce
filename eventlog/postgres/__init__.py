"""PostgreSQL implementation of the event log, by concern: :mod:`~eventlog.postgres.pool`
(the pool and the :class:`Database` door), :mod:`~eventlog.postgres.errors` (driver errors
become the project's own), :mod:`~eventlog.postgres.schema` (refusals and the schema
revision), :mod:`~eventlog.postgres.store` (events, inbox, unit of work) and
:mod:`~eventlog.postgres.outbox`. asyncpg's exceptions stop in this package."""

from eventlog.postgres.errors import translated_errors
from eventlog.postgres.outbox import OutboxBatch, OutboxEntry, PostgresOutbox
from eventlog.postgres.pool import Connection, Database, Pool, create_pool, ping, pooled
from eventlog.postgres.schema import (
    MIGRATE,
    SCHEMA_REVISION,
    check_schema,
    misconfiguration,
    translated_refusals,
)
from eventlog.postgres.store import PostgresEventStore, PostgresUnitOfWork

__all__ = [
    "MIGRATE",
    "SCHEMA_REVISION",
    "Connection",
    "Database",
    "OutboxBatch",
    "OutboxEntry",
    "Pool",
    "PostgresEventStore",
    "PostgresOutbox",
    "PostgresUnitOfWork",
    "check_schema",
    "create_pool",
    "misconfiguration",
    "ping",
    "pooled",
    "translated_errors",
    "translated_refusals",
]
