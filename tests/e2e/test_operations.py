"""Operator commands against the whole running system: a parked delivery is redriven and the
run completes; the reporter's ledger is replayed from history while the system runs, and
nothing is sent to Labelbox twice."""

from __future__ import annotations

import asyncio

import pytest

from fake_labelbox.sample_rows import text_classification_rows
from tests.e2e.conftest import System, cli_json
from tests.integration.helpers import eventually
from tests.reporter.test_reporting import collapsed

EXPECTED = ["EXPORTING_DATA", "PREPARING_DATA", "TRAINING_MODEL", "COMPLETE"]


async def test_a_parked_delivery_is_redriven_and_the_run_completes(
    system: System, database_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    control = system.fake.control
    control.add_model_run("parked-run", data_rows=text_classification_rows("model-1",
                                                                           "parked-run"))
    control.add_fault("*", model_run_id="parked-run", graphql_error="AUTHORIZATION_ERROR")
    assert (await system.request("parked-run")).status_code == 202

    async def parked() -> bool:
        waiting = await cli_json(database_url, capsys, "parked")
        return any(p.get("model_run_id", p.get("modelRunId")) == "parked-run"
                   for p in waiting)

    await eventually(parked, 60, interval=0.5)
    assert control.statuses("parked-run") == []

    control.clear_faults()  # the operator fixed the permissions
    assert await cli_json(database_url, capsys, "redrive", "--model-run", "parked-run") == {
        "redriven": ["parked-run"]}

    async def completed() -> bool:
        return control.statuses("parked-run")[-1:] == ["COMPLETE"]

    await eventually(completed, 120, interval=0.2)
    assert collapsed(control.statuses("parked-run")) == EXPECTED
    assert await cli_json(database_url, capsys, "parked") == []


async def test_replaying_the_ledger_while_the_system_runs_sends_nothing_twice(
    system: System, database_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    control = system.fake.control
    for run in ("first-run", "second-run"):
        control.add_model_run(run, data_rows=text_classification_rows("model-1", run))
    assert (await system.request("first-run")).status_code == 202
    await system.wait_terminal(["first-run"])
    requests = len(control.requests(model_run_id="first-run"))

    report = await cli_json(database_url, capsys, "replay")
    assert report["delivered"] >= 8 and report["parked"] == 0
    assert (await system.request("second-run")).status_code == 202
    await system.wait_terminal(["second-run"])
    await asyncio.sleep(2.5)  # two more sweeps of the log by the running reporter
    assert len(control.requests(model_run_id="first-run")) == requests
    assert collapsed(control.statuses("second-run")) == EXPECTED
