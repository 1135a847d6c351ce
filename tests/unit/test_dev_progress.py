"""``trainbridge dev``'s progress: one line per model run, from a row of the ``model_runs``
view; on a terminal rewritten in place below the services' lines, elsewhere one line per
change of state."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

from trainbridge.dev_console import Console
from trainbridge.dev_progress import progress_of

START = datetime(2026, 11, 28, 9, 14, 2, tzinfo=UTC)


def row(**changes: Any) -> dict[str, Any]:
    """A ``model_runs`` row of a run training right now."""
    return {"model_run_id": "3f2a9c1e-5b7d-4e21-9a0c-6d8e2f4b1a3c",
            "model_type": "text_single_classification", "status": "IN_PROGRESS",
            "labelbox_status": "TRAINING_MODEL", "labelbox_status_at": START,
            "current_stage": "TRAINING_MODEL", "started_at": START, "finished_at": None,
            **changes}


def test_a_running_run_shows_its_stage_and_the_time_since_it_was_requested() -> None:
    progress = progress_of(row(), START + timedelta(seconds=12.34))

    assert progress.line == ("run 3f2a9c1e-5b7d-4e21-9a0c…  text_single_classification  "
                             "TRAINING_MODEL  12.3s")
    assert not progress.ended


def test_a_run_ends_when_labelbox_shows_it_complete() -> None:
    trained = row(status="COMPLETE", current_stage="PREDICTING", labelbox_status="TRAINING_MODEL",
                  finished_at=START + timedelta(seconds=3))
    shown = trained | {"labelbox_status": "COMPLETE",
                       "labelbox_status_at": START + timedelta(seconds=4.5)}
    later = START + timedelta(minutes=5)

    assert (progress_of(trained, later).state, progress_of(trained, later).ended) == (
        "PREDICTING", False)  # trained, not yet shown to the user
    assert (progress_of(shown, later).state, progress_of(shown, later).seconds,
            progress_of(shown, later).ended) == ("COMPLETE", 4.5, True)


def test_a_run_that_failed_before_labelbox_was_told_has_ended() -> None:
    failed = row(status="FAILED", labelbox_status="EXPORTING_DATA",
                 finished_at=START + timedelta(seconds=2))

    progress = progress_of(failed, START + timedelta(minutes=1))

    assert (progress.state, progress.seconds, progress.ended) == ("FAILED", 2.0, True)


def test_a_run_not_yet_at_any_stage_shows_requested() -> None:
    progress = progress_of(row(current_stage=None, labelbox_status=None, model_type=None),
                           START)

    assert progress.line == "run 3f2a9c1e-5b7d-4e21-9a0c…  -  REQUESTED  0.0s"


def test_off_a_terminal_each_change_of_state_is_one_line() -> None:
    out = io.StringIO()
    console = Console(out, terminal=False)

    console.progress("r1", "run r1  x  PREPARING_DATA  0.5s", "PREPARING_DATA", ended=False)
    console.progress("r1", "run r1  x  PREPARING_DATA  1.0s", "PREPARING_DATA", ended=False)
    console.say("trainer", "09:14:03.120 INFO    trainer    r1  started")
    console.progress("r1", "run r1  x  COMPLETE  4.5s", "COMPLETE", ended=True)

    assert out.getvalue().splitlines() == [
        "progress     | run r1  x  PREPARING_DATA  0.5s",
        "trainer      | 09:14:03.120 INFO    trainer    r1  started",
        "progress     | run r1  x  COMPLETE  4.5s",
    ]


def test_on_a_terminal_a_runs_line_is_rewritten_below_the_services_lines() -> None:
    out = io.StringIO()
    console = Console(out, terminal=True)

    console.progress("r1", "run r1  PREPARING_DATA  0.5s", "PREPARING_DATA", ended=False)
    console.progress("r2", "run r2  REQUESTED  0.0s", "REQUESTED", ended=False)
    console.progress("r1", "run r1  TRAINING_MODEL  1.0s", "TRAINING_MODEL", ended=False)
    console.say("trainer", "trained")
    console.progress("r1", "run r1  COMPLETE  4.5s", "COMPLETE", ended=True)

    assert out.getvalue() == (
        "progress     | run r1  PREPARING_DATA  0.5s\n"
        "\x1b[1F\x1b[J"  # up one line, clear: the footer is redrawn
        "progress     | run r1  PREPARING_DATA  0.5s\n"
        "progress     | run r2  REQUESTED  0.0s\n"
        "\x1b[2F\x1b[J"
        "progress     | run r1  TRAINING_MODEL  1.0s\n"
        "progress     | run r2  REQUESTED  0.0s\n"
        "\x1b[2F\x1b[J"
        "trainer      | trained\n"  # a service's line goes above the progress lines
        "progress     | run r1  TRAINING_MODEL  1.0s\n"
        "progress     | run r2  REQUESTED  0.0s\n"
        "\x1b[2F\x1b[J"
        "progress     | run r1  COMPLETE  4.5s\n"  # an ended run's last line stays
        "progress     | run r2  REQUESTED  0.0s\n"
    )
