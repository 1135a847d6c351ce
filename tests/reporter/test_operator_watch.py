"""``trainbridge runs --watch`` and ``trainbridge audit --follow`` on a real database while
runs move on: the test appends the runs' events (as ingest and the trainer would) while the
command runs through ``trainbridge.cli.main`` on a thread of its own."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable

import pytest

from eventlog import NewEvent
from eventlog.postgres import PostgresEventStore
from tests.reporter import events as ev
from trainbridge.cli import main
from trainbridge.operator import redrawn

MESSAGE = "training ran out of memory at 12 GiB"


class Terminal:
    """What a command printed so far, read from capsys while the command still runs."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        capsys.readouterr()
        self.capsys = capsys
        self.out = ""

    async def shows(self, text: str, after: int = 0) -> None:
        for _ in range(500):
            self.out += self.capsys.readouterr().out
            if text in self.out[after:]:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"never printed {text!r}; printed:\n{self.out}")

    def rest(self) -> str:
        self.out += self.capsys.readouterr().out
        return self.out


def running(database_url: str, *argv: str) -> Awaitable[int]:
    return asyncio.get_running_loop().run_in_executor(
        None, main, list(argv), {"TRAINBRIDGE_DATABASE_URL": database_url})


async def record(store: PostgresEventStore, run: str, *events: NewEvent) -> None:
    await store.append(f"model_run-{run}", list(events))


async def test_runs_watch_refreshes_until_every_listed_run_has_ended(
    store: PostgresEventStore, database_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    await record(store, "run-failed", ev.requested("run-failed"),
                 ev.failed("run-failed", MESSAGE))
    await record(store, "run-busy", ev.requested("run-busy"))
    terminal = Terminal(capsys)

    watching = running(database_url, "runs", "--watch", "--interval", "0.05")
    await terminal.shows("IN_PROGRESS")
    await record(store, "run-busy", ev.stage("run-busy", "TRAINING_MODEL"))
    await terminal.shows("TRAINING_MODEL")
    await record(store, "run-busy", ev.completed("run-busy"))

    assert await asyncio.wait_for(watching, 10) == 0
    refreshes = terminal.rest().split("\n\n")
    assert len(refreshes) >= 3
    assert all(r.startswith("MODEL RUN") for r in refreshes)
    first, last = refreshes[0].splitlines()[1:], refreshes[-1].splitlines()[1:]
    assert [r.split()[:4] for r in first] == [["run-busy", "text_single_classification", "1",
                                               "IN_PROGRESS"],
                                              ["run-failed", "text_single_classification", "1",
                                               "FAILED"]]
    assert [r.split()[3] for r in last] == ["COMPLETE", "FAILED"]
    assert "IN_PROGRESS" not in refreshes[-1]
    assert "\x1b" not in terminal.out  # not a terminal: no screen control


async def test_runs_watch_prints_once_when_every_run_has_already_ended(
    store: PostgresEventStore, database_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    await record(store, "run-failed", ev.requested("run-failed"),
                 ev.failed("run-failed", MESSAGE))
    terminal = Terminal(capsys)

    assert await running(database_url, "runs", "--watch", "--status", "failed") == 0

    [table] = terminal.rest().split("\n\n")
    assert table.splitlines()[1].split()[:4] == ["run-failed", "text_single_classification",
                                                 "1", "FAILED"]


def test_on_a_terminal_each_refresh_redraws_the_screen_in_place() -> None:
    assert redrawn("table\n", terminal=True, first=True) == "\x1b[H\x1b[2Jtable\n"
    assert redrawn("table\n", terminal=True, first=False) == "\x1b[H\x1b[2Jtable\n"
    assert redrawn("table\n", terminal=False, first=True) == "table\n"
    assert redrawn("table\n", terminal=False, first=False) == "\ntable\n"


async def test_audit_follow_prints_each_new_entry_once_until_the_run_ends(
    store: PostgresEventStore, database_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    await record(store, "run-1", ev.requested("run-1"), ev.export_requested("run-1"))
    terminal = Terminal(capsys)

    following = running(database_url, "audit", "run-1", "--follow", "--interval", "0.05")
    await terminal.shows("DataExportRequested")
    await record(store, "run-1", ev.stage("run-1", "PREPARING_DATA"))
    await terminal.shows("PREPARING_DATA")
    await record(store, "run-1", ev.stage("run-1", "TRAINING_MODEL"),
                 ev.failed("run-1", MESSAGE))

    assert await asyncio.wait_for(following, 10) == 0
    out = terminal.rest()
    head, timeline = out.split("\n\n", 1)
    assert head.startswith("model run run-1 (text_single_classification): IN_PROGRESS")
    entries = [line.split() for line in timeline.splitlines()[1:] if "  event  " in line]
    assert [e[3] for e in entries] == ["TrainingRequested", "DataExportRequested",
                                       "StageStarted", "StageStarted", "TrainingFailed"]
    assert out.count("TrainingFailed") == 1
    final = out.rstrip().split("\n\n")[-1]
    assert final.startswith("model run run-1 (text_single_classification): FAILED")
    assert final.endswith(f"last error: {MESSAGE}")


async def test_audit_follow_of_a_run_that_has_ended_prints_it_and_exits(
    store: PostgresEventStore, database_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    await record(store, "run-1", ev.requested("run-1"), ev.completed("run-1"))
    terminal = Terminal(capsys)

    assert await running(database_url, "audit", "run-1", "--follow") == 0

    assert "TrainingCompleted" in terminal.rest()
    assert terminal.out.rstrip().splitlines()[-1].startswith(
        "model run run-1 (text_single_classification): COMPLETE")


async def test_ctrl_c_ends_watching_quietly_with_exit_0(
    store: PostgresEventStore, database_url: str,
) -> None:
    await record(store, "run-busy", ev.requested("run-busy"))
    watching = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trainbridge", "runs", "--watch", "--interval", "0.05",
        env={**os.environ, "TRAINBRIDGE_DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert watching.stdout is not None
        while b"IN_PROGRESS" not in await asyncio.wait_for(watching.stdout.readline(), 30):
            pass
        watching.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(watching.communicate(), 30)
    finally:
        if watching.returncode is None:
            watching.kill()
            await watching.wait()

    assert (watching.returncode, err.decode()) == (0, "")


async def test_watching_refuses_json_an_unknown_run_and_an_interval_of_0(
    store: PostgresEventStore, database_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    assert await running(database_url, "runs", "--watch", "--json") == 1
    assert "--watch draws a table for people" in capsys.readouterr().err
    assert await running(database_url, "audit", "no-such-run", "--follow") == 1
    assert "no model run 'no-such-run'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["runs", "--watch", "--interval", "0"], {})
    assert exit_.value.code == 2
    assert "'0' is not a number of seconds above 0" in capsys.readouterr().err
