from __future__ import annotations

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


@pytest.mark.parametrize("command", ["ingest", "trainer", "runs"])
def test_every_command_refuses_a_malformed_database_url(
    command: str, capsys: pytest.CaptureFixture[str],
) -> None:
    environ = {"TRAINBRIDGE_DATABASE_URL": "not-a-url", "TRAINBRIDGE_WEBHOOK_SECRET": "s"}

    assert main([command], environ=environ) == 2
    assert "TRAINBRIDGE_DATABASE_URL=not-a-url: expected" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--help"], ["migrate"]])
def test_an_unknown_log_level_is_one_line_even_for_help(
    argv: list[str], capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(argv, environ={"TRAINBRIDGE_LOG_LEVEL": "verbose"})

    assert code == 2
    assert capsys.readouterr().err == (
        "trainbridge: configuration error: TRAINBRIDGE_LOG_LEVEL='verbose': expected one of "
        "DEBUG, INFO, WARNING, ERROR, CRITICAL\n")
