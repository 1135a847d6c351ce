"""Settings shared by every service, read from the environment once, at the entry point,
and passed down. Any variable may instead be given as ``<NAME>_FILE`` naming a file that
holds the value (Docker/Kubernetes secrets)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from eventlog.redaction import redact as redact

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/trainbridge"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def read_setting(environ: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    """``name`` from the environment, or the content of the file named by ``name_FILE``."""
    direct = environ.get(name)
    file_name = environ.get(f"{name}_FILE")
    if direct is not None and file_name is not None:
        raise SettingsError(f"set {name} or {name}_FILE, not both")
    if file_name is not None:
        try:
            return Path(file_name).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise SettingsError(f"{name}_FILE: cannot read {file_name!r}: {exc.strerror}") from exc
    return direct if direct is not None else default


def read_number(environ: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = read_setting(environ, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {raw!r}")
    return value


def read_integer(environ: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    value = read_number(environ, name, default, minimum=minimum)
    if value != int(value):
        raise SettingsError(f"{name} must be a whole number, got {value}")
    return int(value)


def read_artifacts_url(environ: Mapping[str, str]) -> str:
    """``TRAINBRIDGE_ARTIFACTS_URL`` (an fsspec URL; a plain path becomes a ``file://`` URL),
    shared by the trainer and the reporter; ``./artifacts`` by default."""
    artifacts = read_setting(environ, "TRAINBRIDGE_ARTIFACTS_URL") or "artifacts"
    if "://" not in artifacts:
        artifacts = Path(artifacts).resolve().as_uri()
    return artifacts


def asyncpg_dsn(url: str) -> str:
    """A DSN asyncpg accepts, from either spelling of a PostgreSQL URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def sqlalchemy_url(url: str) -> str:
    """The same URL spelled for SQLAlchemy's asyncpg dialect."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise SettingsError(f"not a PostgreSQL URL: {redact(url)}")


def check_url(name: str, url: str, schemes: tuple[str, ...]) -> str:
    """``url`` if it is a URL of one of ``schemes`` with a numeric port (when it has one);
    otherwise a ``SettingsError`` naming the setting and showing the value redacted."""
    shown = redact(url)
    expected = " or ".join(f"{scheme}://" for scheme in schemes)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise SettingsError(f"{name}={shown}: not a valid URL ({exc})") from None
    if parts.scheme not in schemes or "://" not in url:
        raise SettingsError(f"{name}={shown}: expected a {expected} URL")
    if port == 0:
        raise SettingsError(f"{name}={shown}: the port must be between 1 and 65535")
    return url


POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg")
AMQP_SCHEMES = ("amqp", "amqps")


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = DEFAULT_DATABASE_URL
    pool_size: int = 10

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> DatabaseSettings:
        return cls(
            url=check_url("TRAINBRIDGE_DATABASE_URL",
                          read_setting(environ, "TRAINBRIDGE_DATABASE_URL") or DEFAULT_DATABASE_URL,
                          POSTGRES_SCHEMES),
            pool_size=read_integer(environ, "TRAINBRIDGE_DATABASE_POOL_SIZE", 10, minimum=1),
        )


@dataclass(frozen=True)
class BrokerSettings:
    url: str = DEFAULT_AMQP_URL
    namespace: str = "trainbridge"
    """Prefix of every exchange and queue name: ``<namespace>.events`` is the topic exchange."""
    prefetch: int = 16
    max_attempts: int = 5
    """Deliveries of one message before it is dead-lettered (also its ``x-delivery-limit``)."""
    retry_delay: float = 1.0
    """Seconds before a failed message is requeued (doubled per attempt, capped at 30 s)."""
    reconnect_delay: float = 1.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> BrokerSettings:
        number, integer = partial(read_number, environ), partial(read_integer, environ)
        return cls(
            url=check_url("TRAINBRIDGE_AMQP_URL",
                          read_setting(environ, "TRAINBRIDGE_AMQP_URL") or DEFAULT_AMQP_URL,
                          AMQP_SCHEMES),
            namespace=read_setting(environ, "TRAINBRIDGE_AMQP_NAMESPACE", "trainbridge")
            or "trainbridge",
            prefetch=integer("TRAINBRIDGE_AMQP_PREFETCH", 16, minimum=1),
            max_attempts=integer("TRAINBRIDGE_AMQP_MAX_ATTEMPTS", 5, minimum=1),
            retry_delay=number("TRAINBRIDGE_AMQP_RETRY_DELAY", 1.0, minimum=0),
            reconnect_delay=number("TRAINBRIDGE_AMQP_RECONNECT_DELAY", 1.0, minimum=0),
        )


@dataclass(frozen=True)
class RelaySettings:
    poll_interval: float = 1.0
    """Seconds between polls of the outbox when no in-process commit woke the relay."""
    batch_size: int = 500
    confirm_window: int = 256
    """Publisher confirms kept in flight at once."""
    confirm_timeout: float = 30.0
    retry_delay: float = 5.0
    """Seconds before an unroutable or nacked event is offered again."""
    parallel_claims: int = 2
    """Batches one relay claims and publishes at a time."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> RelaySettings:
        number, integer = partial(read_number, environ), partial(read_integer, environ)
        return cls(
            poll_interval=number("TRAINBRIDGE_RELAY_POLL_INTERVAL", 1.0, minimum=0.01),
            batch_size=integer("TRAINBRIDGE_RELAY_BATCH_SIZE", 500, minimum=1),
            confirm_window=integer("TRAINBRIDGE_RELAY_CONFIRM_WINDOW", 256, minimum=1),
            confirm_timeout=number("TRAINBRIDGE_RELAY_CONFIRM_TIMEOUT", 30.0, minimum=1),
            retry_delay=number("TRAINBRIDGE_RELAY_RETRY_DELAY", 5.0, minimum=0),
            parallel_claims=integer("TRAINBRIDGE_RELAY_PARALLEL_CLAIMS", 2, minimum=1),
        )
