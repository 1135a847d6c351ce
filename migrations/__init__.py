"""Alembic migrations: the only way the schema is made (tests run them too)."""
