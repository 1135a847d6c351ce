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


def expanded(extra: str) -> set[str]:
    """The names an extra installs, its ``trainbridge[...]`` self-references followed."""
    extras = PYPROJECT["project"]["optional-dependencies"]
    found: set[str] = set()
    for requirement in extras[extra]:
        if requirement.startswith("trainbridge["):
            for inner in requirement.split("[")[1].rstrip("]").split(","):
                found |= expanded(inner.strip())
        else:
            found |= names([requirement])
    return found


def test_only_the_trainer_extras_bring_ml_libraries() -> None:
    assert {"scikit-learn", "python-crfsuite", "threadpoolctl"} <= expanded("trainer")
    assert "python-crfsuite" not in expanded("classification")  # ner's own extra
    for extra in ("ingest", "reporter"):
        assert not expanded(extra) & {"scikit-learn", "python-crfsuite", "numpy"}
    assert "scikit-learn" not in names(PYPROJECT["project"]["dependencies"])


def test_no_extra_brings_pytorch() -> None:
    """From the package index plain torch is a CUDA build of several GB."""
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert all("torch" not in expanded(extra) for extra in extras)


def test_the_trainbridge_command_is_installed() -> None:
    assert PYPROJECT["project"]["scripts"]["trainbridge"] == "trainbridge.cli:main"


def test_the_schema_revision_services_require_is_the_migrations_head() -> None:
    from alembic.script import ScriptDirectory

    from eventlog.migrate import alembic_config
    from eventlog.postgres import SCHEMA_REVISION

    heads = ScriptDirectory.from_config(alembic_config("postgresql://unused/x")).get_heads()
    assert heads == [SCHEMA_REVISION]
