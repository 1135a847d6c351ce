"""Settings shared by every service, declared once here (see eventlog.config), read from the
environment once, at the entry point, and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from eventlog.config import (
    Choice,
    Integer,
    Location,
    Number,
    OptionalText,
    OptionalUrl,
    Text,
    Url,
)
from eventlog.config import SettingsError as SettingsError
from eventlog.config import read_setting as read_setting
from eventlog.redaction import redact as redact

POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg")
AMQP_SCHEMES = ("amqp", "amqps")

DATABASE_URL = Url(
    name="TRAINBRIDGE_DATABASE_URL", default="postgresql://postgres@127.0.0.1:5432/trainbridge",
    schemes=POSTGRES_SCHEMES, description="the event log's database")
DATABASE_POOL_SIZE = Integer(
    name="TRAINBRIDGE_DATABASE_POOL_SIZE", default=10, minimum=1,
    description="connections per process for statements; the reporter also holds one per run "
                "it is reconciling (its two concurrencies added), for the run's lock")
DATABASE = (DATABASE_URL, DATABASE_POOL_SIZE)

AMQP_URL = Url(name="TRAINBRIDGE_AMQP_URL", default="amqp://guest:guest@127.0.0.1:5672/",
               schemes=AMQP_SCHEMES, description="RabbitMQ")
AMQP_NAMESPACE = Text(
    name="TRAINBRIDGE_AMQP_NAMESPACE", default="trainbridge",
    description="prefix of every exchange and queue (`trainbridge.events`, "
                "`trainbridge.<consumer>`, …)")
AMQP_PREFETCH = Integer(name="TRAINBRIDGE_AMQP_PREFETCH", default=16, minimum=1,
                        description="unacked deliveries per consumer")
AMQP_MAX_ATTEMPTS = Integer(
    name="TRAINBRIDGE_AMQP_MAX_ATTEMPTS", default=5, minimum=1,
    description="deliveries of a failing message before it is dead-lettered (also the "
                "queue's `x-delivery-limit`)")
AMQP_RETRY_DELAY = Number(
    name="TRAINBRIDGE_AMQP_RETRY_DELAY", default=1.0, minimum=0,
    description="seconds before a failed message is requeued (doubles per attempt, at most "
                "30 s; jittered between half and all of it)")
AMQP_RECONNECT_DELAY = Number(
    name="TRAINBRIDGE_AMQP_RECONNECT_DELAY", default=1.0, minimum=0,
    description="first delay before reconnecting to RabbitMQ (and, at start, to PostgreSQL); "
                "doubles per failed attempt up to 30 s, with jitter")
BROKER = (AMQP_URL, AMQP_NAMESPACE, AMQP_PREFETCH, AMQP_MAX_ATTEMPTS, AMQP_RETRY_DELAY,
          AMQP_RECONNECT_DELAY)

RELAY_POLL_INTERVAL = Number(
    name="TRAINBRIDGE_RELAY_POLL_INTERVAL", default=1.0, minimum=0.01,
    description="seconds between outbox polls when no commit in the same process woke the "
                "relay")
RELAY_BATCH_SIZE = Integer(name="TRAINBRIDGE_RELAY_BATCH_SIZE", default=500, minimum=1,
                           description="outbox rows claimed per pass")
RELAY_CONFIRM_WINDOW = Integer(name="TRAINBRIDGE_RELAY_CONFIRM_WINDOW", default=256, minimum=1,
                               description="publisher confirms kept in flight")
RELAY_CONFIRM_TIMEOUT = Number(name="TRAINBRIDGE_RELAY_CONFIRM_TIMEOUT", default=30.0,
                               minimum=1, description="seconds to wait for one confirm")
RELAY_RETRY_DELAY = Number(
    name="TRAINBRIDGE_RELAY_RETRY_DELAY", default=5.0, minimum=0,
    description="seconds before an unroutable or nacked event is offered again")
RELAY_PARALLEL_CLAIMS = Integer(
    name="TRAINBRIDGE_RELAY_PARALLEL_CLAIMS", default=2, minimum=1,
    description="batches one relay claims and publishes at a time (overlaps database work "
                "with publishing)")
RELAY = (RELAY_POLL_INTERVAL, RELAY_BATCH_SIZE, RELAY_CONFIRM_WINDOW, RELAY_CONFIRM_TIMEOUT,
         RELAY_RETRY_DELAY, RELAY_PARALLEL_CLAIMS)

LOG_LEVEL = Choice(name="TRAINBRIDGE_LOG_LEVEL", default="INFO",
                   choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
                   description="the lowest level logged")
LOGGING = (LOG_LEVEL,)
LOG_FORMAT = Choice(name="TRAINBRIDGE_LOG_FORMAT", default="AUTO",
                    choices=("AUTO", "JSON", "TEXT"),
                    description="how the services (and `migrate`) write their log lines: `JSON`, "
                                "one object a line; `TEXT`, one readable line (time, level, "
                                "service, model run, message); `AUTO`, text on a terminal "
                                "and under `trainbridge dev`, JSON otherwise")
LOG_OUTPUT = (LOG_FORMAT,)

OTLP_ENDPOINT = OptionalUrl(
    name="OTEL_EXPORTER_OTLP_ENDPOINT", schemes=("http", "https"),
    description="turns traces on: the OTLP/HTTP collector the services send spans to "
                "(`/v1/traces` is appended); needs the `otel` extra. The exporter's other "
                "standard `OTEL_EXPORTER_OTLP_*` variables (headers, timeout, compression) "
                "apply too")
TRACING = (OTLP_ENDPOINT,)

ARTIFACTS_URL = Location(
    name="TRAINBRIDGE_ARTIFACTS_URL", default="artifacts",
    description="where exports, models, predictions and metrics are stored, shared by the "
                "trainer and the reporter: a directory, or object storage such as "
                "`s3://bucket/prefix` or `gs://bucket/prefix` (needs the `artifacts` extra and "
                "s3fs or gcsfs; see docs/services.md#artifacts)")


def _login_password(service: str) -> OptionalText:
    return OptionalText(
        name=f"TRAINBRIDGE_{service.upper()}_DATABASE_PASSWORD", secret=True,
        description=f"lets the `trainbridge_{service}` role log in with this password")


LOGIN_PASSWORDS = {service: _login_password(service)
                   for service in ("ingest", "trainer", "reporter", "operator")}
"""Read by `trainbridge migrate` only: it lets each service's role log in with its password."""

DEFAULT_DATABASE_URL = DATABASE_URL.default
DEFAULT_AMQP_URL = AMQP_URL.default


def log_level(environ: Mapping[str, str]) -> str:
    """``TRAINBRIDGE_LOG_LEVEL``, read by every command before anything else."""
    return LOG_LEVEL.read(environ)


def log_format(environ: Mapping[str, str]) -> str:
    """``TRAINBRIDGE_LOG_FORMAT``, read by the commands that log as services."""
    return LOG_FORMAT.read(environ)


def asyncpg_dsn(url: str) -> str:
    """A DSN asyncpg accepts, from either spelling of a PostgreSQL URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def sqlalchemy_url(url: str) -> str:
    """The same URL spelled for SQLAlchemy's asyncpg dialect."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise SettingsError(f"not a PostgreSQL URL: {redact(url)}")


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = DATABASE_URL.default
    pool_size: int = DATABASE_POOL_SIZE.default

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> DatabaseSettings:
        return cls(url=DATABASE_URL.read(environ), pool_size=DATABASE_POOL_SIZE.read(environ))


@dataclass(frozen=True)
class BrokerSettings:
    url: str = AMQP_URL.default
    namespace: str = AMQP_NAMESPACE.default
    """Prefix of every exchange and queue name: ``<namespace>.events`` is the topic exchange."""
    prefetch: int = AMQP_PREFETCH.default
    max_attempts: int = AMQP_MAX_ATTEMPTS.default
    """Deliveries of one message before it is dead-lettered (also its ``x-delivery-limit``)."""
    retry_delay: float = AMQP_RETRY_DELAY.default
    """Seconds before a failed message is requeued (doubled per attempt, capped at 30 s)."""
    reconnect_delay: float = AMQP_RECONNECT_DELAY.default

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> BrokerSettings:
        return cls(
            url=AMQP_URL.read(environ),
            namespace=AMQP_NAMESPACE.read(environ),
            prefetch=AMQP_PREFETCH.read(environ),
            max_attempts=AMQP_MAX_ATTEMPTS.read(environ),
            retry_delay=AMQP_RETRY_DELAY.read(environ),
            reconnect_delay=AMQP_RECONNECT_DELAY.read(environ),
        )


@dataclass(frozen=True)
class RelaySettings:
    poll_interval: float = RELAY_POLL_INTERVAL.default
    """Seconds between polls of the outbox when no in-process commit woke the relay."""
    batch_size: int = RELAY_BATCH_SIZE.default
    confirm_window: int = RELAY_CONFIRM_WINDOW.default
    """Publisher confirms kept in flight at once."""
    confirm_timeout: float = RELAY_CONFIRM_TIMEOUT.default
    retry_delay: float = RELAY_RETRY_DELAY.default
    """Seconds before an unroutable or nacked event is offered again."""
    parallel_claims: int = RELAY_PARALLEL_CLAIMS.default
    """Batches one relay claims and publishes at a time."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> RelaySettings:
        return cls(
            poll_interval=RELAY_POLL_INTERVAL.read(environ),
            batch_size=RELAY_BATCH_SIZE.read(environ),
            confirm_window=RELAY_CONFIRM_WINDOW.read(environ),
            confirm_timeout=RELAY_CONFIRM_TIMEOUT.read(environ),
            retry_delay=RELAY_RETRY_DELAY.read(environ),
            parallel_claims=RELAY_PARALLEL_CLAIMS.read(environ),
        )
