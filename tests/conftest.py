"""Fixtures every test can use: an isolated, migrated database and an isolated broker
namespace per test, on real PostgreSQL and RabbitMQ (see tests/services.py)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg
import pytest

from eventlog import migrate
from eventlog.postgres import Database, PostgresEventStore, PostgresOutbox, create_pool
from eventlog.settings import BrokerSettings, DatabaseSettings, RelaySettings, asyncpg_dsn
from eventlog.topology import Topology
from tests.services import ServiceEndpoints, ServicesUnavailableError, provide_services

if TYPE_CHECKING:
    from tests.fake_labelbox import FakeLabelbox


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--crash-runs", type=int, default=8,
        help="runs in flight during the end-to-end crash test (default 8; e.g. 20 or more "
             "for a longer soak)",
    )


def with_database(url: str, name: str) -> str:
    parts = urlsplit(asyncpg_dsn(url))
    return urlunsplit(parts._replace(path=f"/{name}"))


def in_thread(work: Callable[[], object]) -> None:
    with ThreadPoolExecutor(max_workers=1) as executor:
        executor.submit(work).result()


@pytest.fixture(scope="session")
def services() -> Iterator[ServiceEndpoints]:
    try:
        with provide_services() as provided:
            yield provided
    except ServicesUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)


async def _admin(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(asyncpg_dsn(url))


@pytest.fixture(scope="session")
def template_database(services: ServiceEndpoints) -> Iterator[str]:
    """A database migrated once per session with `trainbridge migrate`'s code path."""
    name = f"tb_template_{os.getpid()}"

    async def create() -> None:
        admin = await _admin(services.database_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()

    async def drop() -> None:
        admin = await _admin(services.database_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    # Session fixtures may be set up from inside a test's running event loop: do the
    # blocking work (asyncio.run, Alembic's own asyncio.run) on a thread of its own.
    in_thread(lambda: asyncio.run(create()))
    in_thread(lambda: migrate.upgrade(with_database(services.database_url, name)))
    yield name
    in_thread(lambda: asyncio.run(drop()))


@pytest.fixture
async def database_url(services: ServiceEndpoints, template_database: str) -> AsyncIterator[str]:
    """A fresh database for this test, cloned from the migrated template."""
    name = f"tb_test_{uuid.uuid4().hex[:12]}"
    admin = await _admin(services.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    finally:
        await admin.close()
    yield with_database(services.database_url, name)
    admin = await _admin(services.database_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def database_settings(database_url: str) -> DatabaseSettings:
    return DatabaseSettings(url=database_url, pool_size=10)


@pytest.fixture
async def pool(database_settings: DatabaseSettings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_settings)
    yield pool
    await pool.close()


@pytest.fixture
def database(pool: asyncpg.Pool) -> Database:
    """The pool as services see it (driver errors translated)."""
    return Database(pool)


@pytest.fixture
def store(pool: asyncpg.Pool) -> PostgresEventStore:
    return PostgresEventStore(pool)


@pytest.fixture
def outbox(pool: asyncpg.Pool) -> PostgresOutbox:
    return PostgresOutbox(pool)


@pytest.fixture
async def sql(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection for the test's own queries (not through the code under test)."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    yield connection
    await connection.close()


@dataclass
class BrokerNamespace:
    """A test's own exchange and queue names on the shared broker."""

    settings: BrokerSettings
    extra_queues: set[str] = field(default_factory=set)
    consumers: set[str] = field(default_factory=set)

    @property
    def topology(self) -> Topology:
        return Topology(self.settings.namespace)

    def with_settings(self, **changes: object) -> BrokerSettings:
        return replace(self.settings, **changes)  # type: ignore[arg-type]

    async def delete_all(self) -> None:
        connection = await aio_pika.connect(self.settings.url)
        async with connection:
            topology = self.topology
            queues = set(self.extra_queues)
            for consumer in self.consumers:
                queues |= {topology.queue(consumer), topology.dead_letter_queue(consumer)}
            for queue in queues:
                channel = await connection.channel()
                await channel.queue_delete(queue)
            for exchange in (topology.events_exchange, topology.dead_letter_exchange):
                channel = await connection.channel()
                await channel.exchange_delete(exchange)


@pytest.fixture
async def broker(services: ServiceEndpoints) -> AsyncIterator[BrokerNamespace]:
    namespace = BrokerNamespace(
        BrokerSettings(
            url=services.amqp_url,
            namespace=f"test-{uuid.uuid4().hex[:10]}",
            prefetch=16,
            max_attempts=3,
            retry_delay=0.05,
            reconnect_delay=0.2,
        )
    )
    yield namespace
    await namespace.delete_all()


@pytest.fixture
def relay_settings() -> RelaySettings:
    return RelaySettings(poll_interval=0.2, batch_size=200, confirm_window=64, retry_delay=0.3)


@pytest.fixture(scope="session")
def fake_labelbox_server() -> Iterator[FakeLabelbox]:
    from tests.fake_labelbox import running_fake_labelbox

    with running_fake_labelbox() as handle:
        yield handle


@pytest.fixture
def fake_labelbox(fake_labelbox_server: FakeLabelbox) -> Iterator[FakeLabelbox]:
    """A fake Labelbox server, empty for this test (API key "test-key"; seed 0): point the
    real SDK at ``.endpoint``, set it up and inspect it through ``.control`` or ``.state``.
    One server serves the session; it is reset before and after each test (a reset also
    ends hanging requests). For other options use ``running_fake_labelbox(...)``."""
    fake_labelbox_server.state.reset()
    yield fake_labelbox_server
    fake_labelbox_server.state.reset()
