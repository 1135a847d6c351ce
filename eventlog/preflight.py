"""What every long-running service checks before it starts: the database answers with a
schema at least as new as the code, and the broker accepts our credentials. The one-shot
commands (``runs``, ``audit``, ``parked``, ``verify``, ``redrive``, ``retry``, ``replay``)
check the database the same way, once, before their first query.

A refusal (wrong credentials, missing database, a schema that needs `trainbridge migrate`)
raises ``MisconfiguredError``; the entry point prints it as one line and exits 2. A database
that cannot be reached yet is waited for (logged once); a broker that cannot be reached is
left to the relay and the consumers, which reconnect by themselves (ingest keeps accepting
requests into the outbox meanwhile)."""

from __future__ import annotations

import asyncio
import logging

from eventlog.amqp import BROKER_ERRORS, connect
from eventlog.errors import StoreUnavailableError
from eventlog.postgres import check_schema
from eventlog.redaction import redact
from eventlog.retry import Outage, reconnection_policy
from eventlog.settings import BrokerSettings, DatabaseSettings

logger = logging.getLogger(__name__)


async def check_database(database: DatabaseSettings) -> str:
    """For a one-shot command: the schema check of ``check_dependencies``, without waiting
    for the database (``StoreUnavailableError`` at once) nor asking the broker. A refusal or
    a schema older than the code raises ``MisconfiguredError``. Returns the revision."""
    revision = await check_schema(database)
    logger.debug("schema at revision %s", revision)
    return revision


async def check_dependencies(database: DatabaseSettings, broker: BrokerSettings,
                             stop: asyncio.Event) -> bool:
    """True once both are fine; False if ``stop`` was set while waiting for the database."""
    outage = Outage(logger, f"database {redact(database.url)}",
                    reconnection_policy(broker.reconnect_delay))
    while True:
        if stop.is_set():
            return False
        try:
            revision = await check_schema(database)
        except StoreUnavailableError as exc:
            await outage.pause(exc, stop)
            continue
        outage.recovered()
        logger.debug("schema at revision %s", revision)
        break
    try:
        connection = await connect(broker.url)
    except BROKER_ERRORS as exc:
        logger.warning("broker %s unreachable at start (%s); the relay and the consumers will "
                       "keep trying", redact(broker.url), exc)
        return True
    await connection.close()
    return True
