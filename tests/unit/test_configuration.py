"""Each setting is declared once (eventlog.config): the settings objects read exactly what
is declared, nothing in the code names an undeclared variable, and docs/configuration.md
is generated from the declarations."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path

import pytest

from eventlog import settings as shared
from eventlog.config import Declared
from eventlog.redaction import SECRET_SETTING
from eventlog.settings import (
    BrokerSettings,
    DatabaseSettings,
    RelaySettings,
    log_format,
    log_level,
)
from services.ingest import settings as ingest
from services.ingest.settings import IngestSettings
from services.reporter import settings as reporter
from services.reporter.settings import ReporterSettings
from services.trainer import settings as trainer
from services.trainer.settings import TrainerSettings
from trainbridge import config_docs
from trainbridge.configuration import declared

ROOT = Path(__file__).parents[2]


class RecordingEnviron(Mapping[str, str]):
    """An environment that remembers every variable looked up in it."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)
        self.looked_up: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.looked_up.add(name)
        return self.values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


def settings_read(read: Callable[[Mapping[str, str]], object]) -> set[str]:
    """The variables ``read`` looks up (``X_FILE`` counted as ``X``, a member of the
    per-model-type deadlines as the family)."""
    environ = RecordingEnviron({"TRAINBRIDGE_WEBHOOK_SECRET": "s", "LABELBOX_API_KEY": "k",
                                "TRAINBRIDGE_DEADLINE_SECONDS_NER": "60"})
    read(environ)
    family = trainer.DEADLINES
    return {family.name if name.startswith(family.prefix) else name.removesuffix("_FILE")
            for name in environ.looked_up}


def names(settings: tuple[Declared, ...]) -> set[str]:
    return {setting.name for setting in settings}


@pytest.mark.parametrize(("read", "settings"), [
    (log_level, shared.LOGGING),
    (log_format, shared.LOG_OUTPUT),
    (DatabaseSettings.from_env, shared.DATABASE),
    (BrokerSettings.from_env, shared.BROKER),
    (RelaySettings.from_env, shared.RELAY),
    (IngestSettings.from_env, ingest.SETTINGS),
    (TrainerSettings.from_env, trainer.SETTINGS),
    (ReporterSettings.from_env, reporter.SETTINGS),
], ids=["logging", "log format", "database", "broker", "relay", "ingest", "trainer", "reporter"])
def test_each_settings_object_reads_exactly_the_settings_declared_for_it(
    read: Callable[[Mapping[str, str]], object], settings: tuple[Declared, ...],
) -> None:
    assert settings_read(read) == names(settings)


def test_unset_variables_give_the_settings_objects_their_declared_defaults() -> None:
    assert DatabaseSettings.from_env({}) == DatabaseSettings()
    assert BrokerSettings.from_env({}) == BrokerSettings()
    assert RelaySettings.from_env({}) == RelaySettings()
    assert IngestSettings.from_env({"TRAINBRIDGE_WEBHOOK_SECRET": "s"}) == IngestSettings(("s",))
    read = TrainerSettings.from_env({})
    assert read.artifacts_url == Path("artifacts").resolve().as_uri()
    assert read == TrainerSettings(artifacts_url=read.artifacts_url, trainer_id=read.trainer_id)
    read_reporter = ReporterSettings.from_env({"LABELBOX_API_KEY": "k"})
    assert read_reporter == replace(
        ReporterSettings(api_key="k", artifacts_url=read_reporter.artifacts_url),
        reporter_id=read_reporter.reporter_id)


SETTING_NAME = re.compile(r"\b(?:TRAINBRIDGE|LABELBOX)_(?:<[A-Z_]+>|[A-Z0-9_])+")
NOT_SETTINGS = {"LABELBOX_WIRE"}
"""Names in the code that look like settings and are not (LABELBOX_WIRE.md, a document)."""


def named_in_the_code() -> dict[str, str]:
    """``{name: file}`` of every setting-like name under eventlog/, services/, trainbridge/."""
    found = {}
    for package in ("eventlog", "services", "trainbridge"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for name in SETTING_NAME.findall(path.read_text(encoding="utf-8")):
                found[name.rstrip("_").removesuffix("_FILE")] = str(path.relative_to(ROOT))
    return found


def is_declared(name: str, declared_names: set[str]) -> bool:
    """``name`` is declared, or is a placeholder (``TRAINBRIDGE_<SERVICE>_…``) standing for
    declared names, or a member of a declared family (``TRAINBRIDGE_DEADLINE_SECONDS_NER``)."""
    placeholder = re.compile(re.sub(r"<[A-Z_]+>", "[A-Z0-9_]+", name))
    families = [n.partition("<")[0] for n in declared_names if "<" in n]
    return (name in declared_names or any(placeholder.fullmatch(n) for n in declared_names)
            or any(name.startswith(prefix) for prefix in families))


def test_every_variable_the_code_names_is_declared() -> None:
    declared_names = names(declared())
    undeclared = {name: path for name, path in named_in_the_code().items()
                  if name not in NOT_SETTINGS and not is_declared(name, declared_names)}
    assert undeclared == {}, "declare these settings (see eventlog/config.py)"


def test_every_declared_setting_is_read_by_some_command() -> None:
    from trainbridge.configuration import readers

    assert [s.name for s in declared() if not readers(s)] == []


def test_a_setting_is_declared_secret_exactly_when_the_redaction_masks_its_value() -> None:
    for setting in declared():
        assert setting.secret == bool(SECRET_SETTING.search(setting.name)), setting.name


def test_docs_configuration_md_is_generated_from_the_declared_settings() -> None:
    assert config_docs.TARGET.read_text(encoding="utf-8") == config_docs.render(), (
        f"docs/configuration.md is out of date: run `{config_docs.REGENERATE}` and commit it")


def test_every_declared_setting_has_a_row_in_docs_configuration_md() -> None:
    text = config_docs.TARGET.read_text(encoding="utf-8")
    for setting in declared():
        assert re.search(rf"^\| `{re.escape(setting.name)}` \|", text, re.M), setting.name


def test_the_check_option_reports_a_stale_file_and_how_to_regenerate_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    stale = tmp_path / "configuration.md"
    stale.write_text("# Configuration\n\nhand-edited\n", encoding="utf-8")

    assert config_docs.main(["--check"], target=stale) == 1
    assert "out of date: run `python -m trainbridge.config_docs`" in capsys.readouterr().err
    assert config_docs.main([], target=stale) == 0
    assert config_docs.main(["--check"], target=stale) == 0
    assert stale.read_text(encoding="utf-8") == config_docs.render()
