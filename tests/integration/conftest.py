from __future__ import annotations

import asyncpg


async def terminate_backends(sql: asyncpg.Connection) -> int:
    """Kill every other connection to this test's database, as a PostgreSQL restart would."""
    killed: int = await sql.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    return killed
