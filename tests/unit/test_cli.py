from __future__ import annotations

import os
import subprocess
import sys

import pytest

from trainbridge.cli import main


def test_a_configuration_error_is_reported_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    both = {"TRAINBRIDGE_DATABASE_URL": "x", "TRAINBRIDGE_DATABASE_URL_FILE": "y"}

    code = main(["migrate"], environ=both)

    assert code == 2
    assert "configuration error: set TRAINBRIDGE_DATABASE_URL or" in capsys.readouterr().err


def test_an_unknown_command_is_refused_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["fly"])
    assert exited.value.code == 2
    assert "invalid choice: 'fly'" in capsys.readouterr().err


def test_the_reporter_refuses_to_start_without_a_labelbox_api_key(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["reporter"], environ={})

    assert code == 2
    assert "LABELBOX_API_KEY (or LABELBOX_API_KEY_FILE) is required" in capsys.readouterr().err


def test_a_malformed_database_url_stops_migrate_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["migrate"], environ={"TRAINBRIDGE_DATABASE_URL": "mysql://u:s3cret@db/x"})

    err = capsys.readouterr().err
    assert code == 2
    assert err == ("trainbridge: configuration error: TRAINBRIDGE_DATABASE_URL="
                   "mysql://u:***@db/x: expected a postgresql:// or postgres:// or "
                   "postgresql+asyncpg:// URL\n")


@pytest.mark.parametrize("command", ["ingest", "trainer", "reporter", "runs"])
def test_every_command_refuses_a_malformed_database_url(command: str) -> None:
    # A process, with a time limit: ingest used to serve on with a URL it could never use.
    done = subprocess.run(
        [sys.executable, "-m", "trainbridge", command],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
             "TRAINBRIDGE_DATABASE_URL": "not-a-url", "TRAINBRIDGE_WEBHOOK_SECRET": "s",
             "LABELBOX_API_KEY": "k"},
        capture_output=True, text=True, timeout=30)

    assert done.returncode == 2
    assert done.stderr == ("trainbridge: configuration error: TRAINBRIDGE_DATABASE_URL=not-a-url: "
                           "expected a postgresql:// or postgres:// or postgresql+asyncpg:// "
                           "URL\n")


@pytest.mark.parametrize("argv", [["--help"], ["migrate"]])
def test_an_unknown_log_level_is_one_line_even_for_help(
    argv: list[str], capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(argv, environ={"TRAINBRIDGE_LOG_LEVEL": "verbose"})

    assert code == 2
    assert capsys.readouterr().err == (
        "trainbridge: configuration error: TRAINBRIDGE_LOG_LEVEL='verbose': expected one of "
        "DEBUG, INFO, WARNING, ERROR, CRITICAL\n")


def test_each_command_is_one_module_of_trainbridge_commands() -> None:
    from trainbridge.cli import COMMANDS, build_parser

    parser = build_parser()
    needs_argument = {"audit": ["run-1"], "retry": ["run-1", "--reason", "r"]}
    for module in COMMANDS:
        name = module.__name__.rpartition(".")[2].replace("_", "-")
        args = parser.parse_args([name, *needs_argument.get(name, [])])
        assert args.run is module.run, name
