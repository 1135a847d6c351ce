"""The artifact store (``TRAINBRIDGE_ARTIFACTS_URL``): a local directory works without
fsspec; object storage needs fsspec and the filesystem's package, and a store that cannot be
loaded is a configuration error that says what to install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import fsspec
import pytest

from eventlog.artifacts import read_artifact, write_artifact
from eventlog.config import SettingsError
from eventlog.settings import ARTIFACTS_URL


def test_a_local_store_writes_and_reads_without_importing_fsspec(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from eventlog.artifacts import read_artifact, write_artifact\n"
        f"a = write_artifact({(tmp_path / 'run' / 'model.pkl').as_uri()!r}, b'model')\n"
        "assert read_artifact(a.uri, a.sha256) == b'model'\n"
        "print('fsspec' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).parents[2])

    assert done.stdout.strip() == "False"
    assert (tmp_path / "run" / "model.pkl").read_bytes() == b"model"
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["model.pkl"]  # no leftovers


def test_an_object_store_is_read_and_written_through_fsspec() -> None:
    artifact = write_artifact("memory://store/run/metrics.json", b"{}")

    assert read_artifact(artifact.uri, artifact.sha256) == b"{}"
    with pytest.raises(ValueError, match="sha256 does not match"):
        read_artifact(artifact.uri, "0" * 64)


def test_an_object_store_whose_package_is_missing_is_a_configuration_error() -> None:
    fsspec.register_implementation("needs-pkg", "no_such_package.NeedsFileSystem",
                                   errtxt="Install no-such-package to access needs-pkg://",
                                   clobber=True)

    with pytest.raises(SettingsError) as refused:
        ARTIFACTS_URL.read({"TRAINBRIDGE_ARTIFACTS_URL": "needs-pkg://bucket/artifacts"})

    assert str(refused.value).startswith(
        "TRAINBRIDGE_ARTIFACTS_URL=needs-pkg://bucket/artifacts: the needs-pkg:// filesystem "
        "is not installed")
    assert "Install no-such-package" in str(refused.value)


def test_an_unknown_store_is_a_configuration_error() -> None:
    with pytest.raises(SettingsError, match="fsspec knows no nowhere:// filesystem"):
        ARTIFACTS_URL.read({"TRAINBRIDGE_ARTIFACTS_URL": "nowhere://bucket"})


def test_without_fsspec_an_object_store_says_to_install_the_artifacts_extra(
    tmp_path: Path,
) -> None:
    (tmp_path / "fsspec.py").write_text("raise ImportError('fsspec is not installed')\n")
    script = (
        "from eventlog.settings import ARTIFACTS_URL\n"
        "ARTIFACTS_URL.read({'TRAINBRIDGE_ARTIFACTS_URL': 's3://bucket/artifacts'})\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=Path(__file__).parents[2],
                          env={"PYTHONPATH": f"{tmp_path}:{Path(__file__).parents[2]}"})

    assert done.returncode == 1
    assert ("SettingsError: TRAINBRIDGE_ARTIFACTS_URL=s3://bucket/artifacts: an artifact store at "
            "s3:// needs fsspec: install the artifacts extra (pip install "
            "'trainbridge[artifacts]')") in done.stderr
