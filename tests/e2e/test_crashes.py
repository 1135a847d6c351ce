"""End to end under failure: services SIGKILLed at random moments and restarted, and
RabbitMQ restarted mid-run. Nothing accepted is lost, no predictions import is created
twice, and no status goes backwards."""

from __future__ import annotations

import asyncio
import os
import random
import signal

import asyncpg
import pytest

from fake_labelbox.sample_rows import text_classification_rows
from services.reporter.plan import STATUS_RANK
from tests.e2e.conftest import System
from tests.reporter.test_reporting import imports_created
from tests.services import ServiceEndpoints

SERVICES = ("ingest", "trainer", "reporter")


async def request_until_accepted(system: System, run: str, attempts: int = 60) -> None:
    """Like Labelbox's retries: a request that met a dead ingest is sent again."""
    for _ in range(attempts):
        try:
            response = await system.request(run)
            if response.is_success:
                return
        except Exception:  # connection refused or reset: ingest is being restarted
            pass
        await asyncio.sleep(0.25)
    raise AssertionError(f"{run} was never accepted")


async def assert_runs_ended_correctly(system: System, sql: asyncpg.Connection,
                                      runs: list[str]) -> None:
    control = system.fake.control
    requested = {r["stream_id"] for r in await sql.fetch(
        "SELECT stream_id FROM events WHERE event_type = 'TrainingRequested'")}
    for run in runs:
        assert run in system.accepted
        assert f"model_run-{run}" in requested, f"{run} was accepted but not recorded"
        statuses = control.statuses(run)
        assert statuses[-1] in ("COMPLETE", "FAILED"), (run, statuses)
        ranks = [STATUS_RANK[s] for s in statuses]
        assert ranks == sorted(ranks), (run, statuses)
        assert statuses.count("COMPLETE") + statuses.count("FAILED") == 1, (run, statuses)
        assert imports_created(control, run) <= 1, run
        if statuses[-1] == "COMPLETE":
            assert [i["state"] for i in control.imports(run)] == ["FINISHED"], run


async def test_runs_survive_services_being_killed_at_random_moments(
    system: System, sql: asyncpg.Connection, request: pytest.FixtureRequest,
) -> None:
    count: int = request.config.getoption("--crash-runs")
    runs = [f"crash-run-{n}" for n in range(count)]
    for run in runs:
        system.fake.control.add_model_run(
            run, data_rows=text_classification_rows("model-1", run, count=30))
    rng = random.Random(11)
    kills: list[str] = []

    async def chaos() -> None:
        for _ in range(max(6, count // 2)):
            await asyncio.sleep(rng.uniform(0.5, 2.0))
            victim = rng.choice(SERVICES)
            try:
                os.kill(system.pid(victim), signal.SIGKILL)
                kills.append(victim)
            except (AssertionError, ProcessLookupError):
                pass  # it is being restarted right now

    async def requests() -> None:
        for run in runs:
            await request_until_accepted(system, run)
            await asyncio.sleep(rng.uniform(0.0, 0.4))

    await asyncio.gather(chaos(), requests())
    assert set(kills) == set(SERVICES), kills
    await system.wait_terminal(runs, timeout=180)
    await assert_runs_ended_correctly(system, sql, runs)
    completed = [r for r in runs if system.fake.control.statuses(r)[-1] == "COMPLETE"]
    # a run fails only if its training was interrupted three times; most complete
    assert len(completed) >= len(runs) // 2, [system.fake.control.statuses(r) for r in runs]


@pytest.mark.broker_restart
async def test_runs_complete_when_rabbitmq_restarts_mid_run(
    system: System, sql: asyncpg.Connection, services: ServiceEndpoints,
) -> None:
    control = services.broker_control
    assert control is not None, services.broker_control_problem
    runs = [f"broker-run-{n}" for n in range(4)]
    for run in runs:
        system.fake.control.add_model_run(
            run, data_rows=text_classification_rows("model-1", run, count=30))
    for run in runs[:2]:
        await request_until_accepted(system, run)
    await asyncio.to_thread(control.stop_app)
    try:
        for run in runs[2:]:  # accepted while RabbitMQ is down: they wait in the outbox
            await request_until_accepted(system, run)
        await asyncio.sleep(1.0)
    finally:
        await asyncio.to_thread(control.start_app)
    await system.wait_terminal(runs, timeout=120)
    await assert_runs_ended_correctly(system, sql, runs)
    assert all(system.fake.control.statuses(r)[-1] == "COMPLETE" for r in runs)
