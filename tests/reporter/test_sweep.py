"""The sweep: the reporter's backstop for messages it never received, and how an operator's
redrive reaches a running reporter."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from services.reporter.sweeper import Sweeper
from tests.integration.helpers import eventually
from tests.reporter.conftest import Reporter, sample_rows
from trainbridge.cli import main

RUN = "run-1"


def sweeper_of(reporter: Reporter) -> Sweeper:
    return Sweeper(reporter.store, reporter.ledger, reporter.reconciler, reporter.metrics,
                   batch_size=3)


async def test_the_sweep_delivers_runs_whose_messages_never_arrived(reporter: Reporter) -> None:
    control = reporter.fake.control
    for run in (RUN, "run-2"):
        control.add_model_run(run, data_rows=sample_rows(run, 8))
        await reporter.request_training(run)
    sweeper = sweeper_of(reporter)

    # The sweep reads the log below the oldest open transaction in the cluster: one left
    # open elsewhere (another client of the server) may hold events back a moment.
    async def swept(done: Callable[[], bool]) -> bool:
        await sweeper.sweep()
        return done()

    await eventually(lambda: swept(lambda: control.statuses(RUN) == control.statuses("run-2")
                                   == ["EXPORTING_DATA"]), timeout=30, interval=0.2)
    await reporter.train(RUN)
    await eventually(lambda: swept(lambda: control.statuses(RUN)[-1] == "COMPLETE"),
                     timeout=30, interval=0.2)
    requests = len(control.requests())

    async def settled() -> bool:
        return await sweeper.sweep() == 0  # the checkpoint moved past everything swept

    await eventually(settled, timeout=30, interval=0.2)
    assert len(control.requests()) == requests  # and nothing was sent again on the way


async def test_an_operator_redrive_is_picked_up_by_the_next_sweep(
    reporter: Reporter, database_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    control = reporter.fake.control
    control.add_model_run(RUN, data_rows=sample_rows(RUN, 8))
    await reporter.request_training(RUN)
    control.add_fault("*", model_run_id=RUN, graphql_error="AUTHORIZATION_ERROR")
    sweeper = sweeper_of(reporter)

    async def parked() -> bool:
        # The sweep reads the log below the oldest open transaction in the cluster: one
        # left open elsewhere (another client of the server) may hold it back a moment.
        await sweeper.sweep()
        return bool(reporter.metrics.parked._value.get() == 1)

    await eventually(parked, timeout=30, interval=0.2)
    await sweeper.sweep()
    assert len(control.requests(model_run_id=RUN)) == 1  # parked: not tried again

    control.clear_faults()
    environ = {"TRAINBRIDGE_DATABASE_URL": database_url}
    assert await asyncio.to_thread(main, ["redrive", "--model-run", RUN], environ) == 0
    assert "redrive requested: model_run-run-1" in capsys.readouterr().out
    await sweeper.sweep()
    assert control.statuses(RUN) == ["EXPORTING_DATA"]
    assert reporter.metrics.parked._value.get() == 0
    assert await asyncio.to_thread(main, ["redrive"], environ) == 0
    assert "no parked deliveries" in capsys.readouterr().out
