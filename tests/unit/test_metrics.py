"""The parts every service's registry shares (eventlog.metrics)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest

from eventlog.metrics import MessagingCollector, OutboxBacklog, service_registry
from services.ingest.metrics import IngestMetrics
from services.reporter.metrics import ReporterMetrics
from services.trainer.metrics import TrainerMetrics
from trainbridge.metric_names import BY_SERVICE


@dataclass
class FakeConsumer:
    queue_name: str
    handled_total: int = 0
    redelivered_total: int = 0
    dead_lettered_total: int = 0
    queue_messages: int | None = None
    dead_letter_messages: int | None = None


@dataclass
class FakeRelay:
    published_total: int = 0
    deferred_total: int = 0


def samples(registry: object) -> list[str]:
    return [line for line in generate_latest(registry).decode().splitlines()  # type: ignore[arg-type]
            if line and not line.startswith("#")]


def test_a_service_registry_has_the_process_platform_and_gc_collectors() -> None:
    names = {line.split("{")[0].split(" ")[0] for line in samples(service_registry())}

    assert {"process_resident_memory_bytes", "process_cpu_seconds_total", "python_info",
            "python_gc_collections_total"} <= names


async def test_the_backlog_is_its_last_reading_and_absent_once_a_reading_fails() -> None:
    registry = service_registry()
    backlog = OutboxBacklog(registry)
    stop = asyncio.Event()
    seen: list[list[str]] = []  # before each reading: what a scrape finds

    async def read() -> int:
        seen.append([line for line in samples(registry)
                     if line.startswith("trainbridge_outbox_backlog")])
        if len(seen) == 1:
            return 3
        if len(seen) == 2:
            raise ConnectionRefusedError("database down")
        stop.set()
        return 0

    await asyncio.wait_for(backlog.watch(read, stop, interval=0.001), 5)

    assert seen == [[], ["trainbridge_outbox_backlog 3.0"], []]


def test_relay_and_consumer_counters_are_exported_by_queue() -> None:
    registry = service_registry()
    relay = FakeRelay()
    consumers = [FakeConsumer("trainbridge.reporter"),
                 FakeConsumer("trainbridge.reporter-acknowledge")]
    MessagingCollector(registry, relay, consumers)
    relay.published_total = 5
    consumers[0].handled_total, consumers[0].redelivered_total = 4, 2
    consumers[1].dead_lettered_total = 1

    lines = samples(registry)

    assert "trainbridge_relay_events_published_total 5.0" in lines
    assert "trainbridge_relay_events_deferred_total 0.0" in lines
    assert 'trainbridge_consumer_messages_handled_total{queue="trainbridge.reporter"} 4.0' in lines
    assert ('trainbridge_consumer_messages_redelivered_total{queue="trainbridge.reporter"} 2.0'
            in lines)
    assert ('trainbridge_consumer_messages_dead_lettered_total'
            '{queue="trainbridge.reporter-acknowledge"} 1.0' in lines)


def test_queue_depths_are_exported_by_queue_and_absent_while_unknown() -> None:
    registry = service_registry()
    consumers = [FakeConsumer("trainbridge.reporter", queue_messages=7, dead_letter_messages=1),
                 FakeConsumer("trainbridge.reporter-acknowledge")]
    MessagingCollector(registry, None, consumers)

    depths = [line for line in samples(registry) if "queue_messages" in line]

    assert depths == [
        'trainbridge_consumer_queue_messages{queue="trainbridge.reporter"} 7.0',
        'trainbridge_consumer_dead_letter_queue_messages{queue="trainbridge.reporter"} 1.0']


def declared_names(registry: CollectorRegistry) -> set[str]:
    """As a query names them: a counter with its ``_total``, anything else by its family."""
    return {family.name + "_total" if family.type == "counter" else family.name
            for family in registry.collect()}


def test_each_service_declares_every_name_of_the_catalogue() -> None:
    """The catalogue that dashboards and alerts are checked against, without a run (the
    end-to-end test scrapes the same names from the real processes)."""
    ingest, trainer, reporter = IngestMetrics(), TrainerMetrics(), ReporterMetrics()
    MessagingCollector(ingest.registry, FakeRelay())
    MessagingCollector(trainer.registry, FakeRelay(), [FakeConsumer("trainbridge.trainer")])
    MessagingCollector(reporter.registry, FakeRelay(), [FakeConsumer("trainbridge.reporter")])
    registries = {"ingest": ingest.registry, "trainer": trainer.registry,
                  "reporter": reporter.registry}

    assert registries.keys() == BY_SERVICE.keys()
    for service, registry in registries.items():
        assert set(BY_SERVICE[service]) <= declared_names(registry), service
