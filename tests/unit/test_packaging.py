"""Each service installs only what it needs: the Labelbox SDK only with the reporter,
ML libraries only with the trainer."""

from __future__ import annotations

import tomllib
from pathlib import Path

PYPROJECT = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())


def names(requirements: list[str]) -> set[str]:
    return {r.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip() for r in requirements}


def test_only_the_reporter_extra_brings_labelbox() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert "labelbox" in names(extras["reporter"])
    assert "labelbox" not in names(PYPROJECT["project"]["dependencies"])
    assert all("labelbox" not in names(extras[e]) for e in ("ingest", "trainer"))


def test_only_the_trainer_extra_brings_ml_libraries() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert "scikit-learn" in names(extras["trainer"])
    for extra in ("ingest", "reporter"):
        assert "scikit-learn" not in names(extras[extra])
    assert "scikit-learn" not in names(PYPROJECT["project"]["dependencies"])


def test_the_trainbridge_command_is_installed() -> None:
    assert PYPROJECT["project"]["scripts"]["trainbridge"] == "trainbridge.cli:main"


def test_the_schema_revision_services_require_is_the_migrations_head() -> None:
    from alembic.script import ScriptDirectory

    from eventlog.migrate import alembic_config
    from eventlog.postgres import SCHEMA_REVISION

    heads = ScriptDirectory.from_config(alembic_config("postgresql://unused/x")).get_heads()
    assert heads == [SCHEMA_REVISION]
