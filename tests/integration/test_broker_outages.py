"""A broker outage is logged once when it starts and once when it ends, with reconnections
spaced exponentially; a broker that refuses our credentials stops the service with one line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from urllib.parse import urlsplit, urlunsplit

import pytest

from eventlog.amqp import quiet_driver_logs
from eventlog.consumer import EventConsumer, Subscription
from eventlog.errors import MisconfiguredError, StoreUnavailableError
from eventlog.events import NewEvent
from eventlog.memory import InMemoryEventStore
from eventlog.postgres import OutboxBatch, PostgresEventStore, PostgresOutbox
from eventlog.relay import OutboxRelay
from eventlog.retry import Outage, reconnection_policy
from eventlog.settings import BrokerSettings, RelaySettings
from tests.conftest import BrokerNamespace
from tests.integration.helpers import Probe, running
from tests.ports import free_port


async def _noop(uow: object, event: object) -> None:
    return None


def consumer_of(settings: BrokerSettings) -> EventConsumer:
    return EventConsumer(InMemoryEventStore(), settings,
                         Subscription("outage-test", ("Nothing",), handler=_noop))


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user = parts.username or "guest"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


async def test_an_unreachable_broker_is_logged_once_not_twice_a_second(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = BrokerSettings(url=f"amqp://guest:guest@127.0.0.1:{free_port()}/",
                              reconnect_delay=0.05)
    consumer = consumer_of(settings)
    stop = asyncio.Event()
    quiet_driver_logs()  # as the entry point does
    caplog.set_level(logging.DEBUG, logger="eventlog.consumer")

    running = asyncio.create_task(consumer.run(stop))
    await asyncio.sleep(1.5)
    stop.set()
    await running

    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    retries = [r for r in caplog.records if r.levelno == logging.DEBUG
               and "still failing" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "retrying with backoff" in warnings[0].getMessage()
    # 0.05 s doubling (with jitter between half and all of it): at most ~6 tries in 1.5 s,
    # where a fixed 0.05 s delay would have made 30.
    assert 2 <= len(retries) <= 6


async def test_a_recovered_broker_is_logged_once(broker: BrokerNamespace,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="eventlog.consumer")
    consumer = consumer_of(broker.with_settings(reconnect_delay=0.05))
    broker.consumers.add("outage-test")
    stop = asyncio.Event()
    outage = consumer._outage  # start the consumer mid-outage
    outage.failed(ConnectionError("broker restarting"))

    running = asyncio.create_task(consumer.run(stop))
    await asyncio.wait_for(consumer.consuming.wait(), 10)
    stop.set()
    await running

    back = [r.getMessage() for r in caplog.records if "back after" in r.getMessage()]
    assert len(back) == 1 and "1 failed attempt" in back[0]


async def test_a_wrong_broker_password_stops_the_consumer_with_one_clear_line(
    broker: BrokerNamespace,
) -> None:
    settings = replace(broker.settings, url=with_password(broker.settings.url, "wrong-pw-zz"))

    with pytest.raises(MisconfiguredError) as raised:
        await asyncio.wait_for(consumer_of(settings).run(asyncio.Event()), 10)

    message = str(raised.value)
    assert "RabbitMQ refused the user name or password" in message
    assert message.startswith("TRAINBRIDGE_AMQP_URL=amqp://") and ":***@" in message
    assert "wrong-pw-zz" not in message


async def test_an_unknown_virtual_host_stops_the_consumer_with_one_clear_line(
    broker: BrokerNamespace,
) -> None:
    parts = urlsplit(broker.settings.url)
    settings = replace(broker.settings,
                       url=urlunsplit(parts._replace(path="/no-such-vhost-cfg")))

    with pytest.raises(MisconfiguredError, match="does the virtual host exist"):
        await asyncio.wait_for(consumer_of(settings).run(asyncio.Event()), 10)


def test_reconnection_delays_grow_exponentially_with_jitter_up_to_a_cap() -> None:
    policy = reconnection_policy(1.0, cap=8.0)
    outage = Outage(logging.getLogger("test"), "broker", policy, random=lambda: 1.0)
    delays = [outage.failed(ConnectionError("down")) for _ in range(6)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]

    low = Outage(logging.getLogger("test"), "broker", policy, random=lambda: 0.0)
    assert [low.failed(ConnectionError("down")) for _ in range(3)] == [0.5, 1.0, 2.0]


class DownOutbox:
    """The real outbox behind a database that refuses its first ``failures`` claims (a fake
    at the port, not a mock)."""

    def __init__(self, outbox: PostgresOutbox, failures: int) -> None:
        self._outbox = outbox
        self.failures = failures

    def claim(self, batch_size: int) -> contextlib.AbstractAsyncContextManager[OutboxBatch]:
        if self.failures > 0:
            self.failures -= 1
            raise StoreUnavailableError("PostgreSQL unavailable: connection refused")
        return self._outbox.claim(batch_size)


async def test_a_database_outage_is_logged_once_by_the_relay_not_at_every_reconnection(
    store: PostgresEventStore, outbox: PostgresOutbox, broker: BrokerNamespace,
    relay_settings: RelaySettings, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="eventlog.relay")
    probe = Probe(broker)
    await probe.bind("#")
    down = DownOutbox(outbox, failures=5)
    relay = OutboxRelay(down, broker.with_settings(reconnect_delay=0.01),  # type: ignore[arg-type]
                        relay_settings)
    await store.append("model_run-outage", [NewEvent("TrainingRequested", {})])

    async with running(relay.run):
        for _ in range(400):
            if relay.published_total:
                break
            await asyncio.sleep(0.05)

    assert relay.published_total == 1 and down.failures == 0
    said = [(r.levelname, r.getMessage()) for r in caplog.records
            if r.getMessage().startswith("relay: database")]
    assert [level for level, _ in said] == ["WARNING", "INFO"], said
    assert "connection refused; retrying with backoff" in said[0][1]
    assert "back after" in said[1][1]
