"""What the benchmark scripts share: where PostgreSQL and RabbitMQ are (the test settings
first, then the services' own, then the defaults) and a free port. Each script imports it as
``bench.support`` with the repository on its import path; the bench/ folder itself stays off
it, where bench/eventlog.py would shadow the ``eventlog`` package."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit, urlunsplit

from eventlog.settings import DEFAULT_AMQP_URL, DEFAULT_DATABASE_URL, asyncpg_dsn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def database_url(name: str) -> str:
    """The benchmark's PostgreSQL server, database ``name`` (an asyncpg DSN)."""
    base = os.environ.get("TRAINBRIDGE_TEST_DATABASE_URL") or os.environ.get(
        "TRAINBRIDGE_DATABASE_URL", DEFAULT_DATABASE_URL)
    return urlunsplit(urlsplit(asyncpg_dsn(base))._replace(path=f"/{name}"))


def amqp_url() -> str:
    return (os.environ.get("TRAINBRIDGE_TEST_AMQP_URL")
            or os.environ.get("TRAINBRIDGE_AMQP_URL") or DEFAULT_AMQP_URL)
