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
