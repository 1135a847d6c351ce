"""What several commands share: the log level, the settings every service reads, the line a
service logs as it starts, and the checks made before a service serves or a one-shot
command queries."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from eventlog.config import Integer
    from eventlog.telemetry import TracingSettings

from eventlog.redaction import RedactingFilter, known_secrets, redact
from eventlog.settings import (
    BrokerSettings,
    DatabaseSettings,
    RelaySettings,
    log_format,
    log_level,
)

T = TypeVar("T")

Subparsers = argparse._SubParsersAction
"""What ``add_subparsers()`` returns: each command's ``add_parser`` adds itself to it."""

S = TypeVar("S", bound="DataclassInstance")


def add_metrics_port_option(parser: argparse.ArgumentParser, setting: Integer,
                            serves: str) -> None:
    """``--metrics-port``, over ``setting`` (its name and default in the help)."""
    parser.add_argument("--metrics-port", type=int, default=None,
                        help=f"port of {serves} ({setting.name}, {setting.default}; "
                             f"0 turns {'them' if ' and ' in serves else 'it'} off)")


def with_metrics_port(settings: S, args: argparse.Namespace, setting: Integer) -> S:
    """The settings with ``--metrics-port`` over the environment's value, held to the same
    bounds as the variable (a port beyond them is a configuration error)."""
    if args.metrics_port is None:
        return settings
    return replace(settings, metrics_port=setting.parse(str(args.metrics_port)))


def service_settings(
    environ: Mapping[str, str], service: str | None = None,
) -> tuple[DatabaseSettings, BrokerSettings, RelaySettings]:
    """What every long-running service reads: database, broker and relay settings. It also
    switches logging to JSON lines (naming ``service``), or readable lines
    (``TRAINBRIDGE_LOG_FORMAT``), after the settings, so a configuration error still reads
    as plain text; keeping the redaction."""
    from eventlog.json_logs import use_json_logs

    settings = (DatabaseSettings.from_env(environ), BrokerSettings.from_env(environ),
                RelaySettings.from_env(environ))
    use_json_logs(log_level(environ), RedactingFilter(known_secrets(environ)),
                  log_format(environ), service=service)
    return settings


def traced(service: str, tracing: TracingSettings) -> AbstractContextManager[None]:
    """The service's spans exported for the block when ``tracing`` names an endpoint
    (eventlog.telemetry), and flushed as it ends."""
    from eventlog.telemetry import tracing as exporting

    return exporting(tracing, service)


def starting(service: str, database: DatabaseSettings, broker: BrokerSettings,
             **details: object) -> None:
    """The one line a service logs before it starts: what runs, where it connects (redacted)
    and the settings that matter to an operator reading the log."""
    from importlib.metadata import version

    shown = ", ".join(f"{name}={value}" for name, value in details.items())
    logging.getLogger("trainbridge").info(
        "trainbridge %s %s starting: database=%s broker=%s namespace=%s log_level=%s%s",
        service, version("trainbridge"), redact(database.url), redact(broker.url),
        broker.namespace, logging.getLevelName(logging.getLogger().level),
        f" {shown}" if shown else "")


def dependencies_ready(database: DatabaseSettings, broker: BrokerSettings) -> bool:
    """Check the database's schema and the broker's credentials before serving (see
    eventlog.preflight); False if a signal arrived while waiting for the database."""
    import asyncio

    from eventlog.preflight import check_dependencies
    from eventlog.runner import run_until_signalled

    ready: list[bool] = []

    async def check(stop: asyncio.Event) -> None:
        ready.append(await check_dependencies(database, broker, stop))

    asyncio.run(run_until_signalled(check))
    return bool(ready and ready[0])


def on_migrated_database(database: DatabaseSettings, command: Callable[[], Awaitable[T]]) -> T:
    """Run a one-shot command once the database has the schema this code needs
    (eventlog.preflight): on a database not migrated, or migrated by an older version, the
    command ends with one line telling to run `trainbridge migrate` (exit 2), before any of
    its queries fails in its own way. The compose `operator` tool relies on it: it no longer
    runs `migrate` first."""
    import asyncio

    from eventlog.preflight import check_database

    async def checked() -> T:
        await check_database(database)
        return await command()

    return asyncio.run(checked())
