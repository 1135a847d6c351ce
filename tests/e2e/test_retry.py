"""`trainbridge retry`: an operator starts a new attempt of a failed run without a new click
in Labelbox; the whole system takes it from there, and the event records who and why."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from fake_labelbox.sample_rows import text_classification_rows
from tests.e2e.conftest import System, cli_json
from tests.integration.helpers import eventually
from tests.reporter.test_reporting import collapsed
from trainbridge.cli import main

RUN = "retried-run"


async def cli(database_url: str, *args: str) -> int:
    environ = {"TRAINBRIDGE_DATABASE_URL": database_url}
    return await asyncio.to_thread(main, list(args), environ)


async def test_a_failed_run_is_retried_by_an_operator_and_completes(
    system: System, database_url: str, sql: asyncpg.Connection,
    capsys: pytest.CaptureFixture[str],
) -> None:
    control = system.fake.control
    control.add_model_run(RUN, data_rows=text_classification_rows("model-1", RUN))
    control.set_export_behaviour(RUN, fail=True)
    assert (await system.request(RUN)).status_code == 202
    await system.wait_terminal([RUN])
    assert control.statuses(RUN) == ["EXPORTING_DATA", "FAILED"]

    control.set_export_behaviour(RUN, fail=False)  # the cause is fixed
    printed = await cli_json(database_url, capsys, "retry", RUN, "--reason",
                             "export fixed by Labelbox", "--by", "alice")
    assert (printed["attempt"], printed["requestedBy"]) == (2, "alice")

    async def completed() -> bool:
        return control.statuses(RUN)[-1:] == ["COMPLETE"]

    await eventually(completed, 120, interval=0.2)
    assert collapsed(control.statuses(RUN)) == [
        "EXPORTING_DATA", "FAILED", "EXPORTING_DATA", "PREPARING_DATA", "TRAINING_MODEL",
        "COMPLETE"]
    row = await sql.fetchrow(
        "SELECT data->'retry'->>'requestedBy' AS by, data->'retry'->>'reason' AS reason, "
        "data->'retry'->>'previousFailure' AS failure, metadata->>'producer' AS producer "
        "FROM events WHERE stream_id = $1 AND event_type = 'TrainingRequested' "
        "AND (data->>'attempt')::int = 2", f"model_run-{RUN}")
    assert (row["by"], row["reason"], row["producer"]) == (
        "alice", "export fixed by Labelbox", "operator")
    assert "could not export" in row["failure"]

    # a complete run, or one nobody asked for, is not retried
    assert await cli(database_url, "retry", RUN, "--reason", "again") == 1
    assert "only a failed run can be retried" in capsys.readouterr().err
    assert await cli(database_url, "retry", "no-such-run", "--reason", "x") == 1
    assert "no model run 'no-such-run'" in capsys.readouterr().err
