"""Which command reads which settings. The settings are declared next to the code that uses
them (eventlog/settings.py, services/*/settings.py) and read by the entry points
(trainbridge.cli); this catalog groups them for docs/configuration.md
(trainbridge.config_docs) and for the tests that check the deployment files against them."""

from __future__ import annotations

from dataclasses import dataclass

from eventlog import settings as shared
from eventlog.config import Declared
from services.ingest import settings as ingest
from services.reporter import settings as reporter
from services.trainer import settings as trainer


@dataclass(frozen=True)
class Group:
    title: str
    about: str
    """A sentence under the group's heading (Markdown)."""
    settings: tuple[Declared, ...]


EVERY_COMMAND = Group("Every command", "Read first, before any other setting.",
                      (*shared.LOGGING, *shared.LOG_OUTPUT))
DATABASE = Group("The database", "Every command that uses the event log.", shared.DATABASE)
MESSAGING = Group("RabbitMQ and the outbox relay",
                  "The three long-running services.",
                  (*shared.BROKER, *shared.RELAY))
INGEST = Group("`trainbridge ingest`",
               "Where it listens is given on its command line: `--host` (`0.0.0.0`) and "
               "`--port` (`8000`).", ingest.SETTINGS)
TRAINER = Group("`trainbridge trainer`", "", trainer.SETTINGS)
REPORTER = Group("`trainbridge reporter`", "The only component that calls Labelbox.",
                 reporter.SETTINGS)
TRACES = Group("Traces (optional)",
                "The three long-running services; see "
                "[operations](operations.md#traces).", shared.TRACING)
MIGRATE = Group("`trainbridge migrate`",
                "Each service's PostgreSQL role may log in only once `migrate` has been given "
                "its password.", tuple(shared.LOGIN_PASSWORDS.values()))
GROUPS = (EVERY_COMMAND, DATABASE, MESSAGING, INGEST, TRAINER, REPORTER, TRACES, MIGRATE)

OPERATOR_COMMANDS = "operator commands"
"""``runs``, ``audit``, ``parked``, ``verify``, ``retry``, ``redrive`` and ``replay``."""

READERS: dict[str, tuple[Group, ...]] = {
    "migrate": (EVERY_COMMAND, DATABASE, MIGRATE),
    "ingest": (EVERY_COMMAND, DATABASE, MESSAGING, INGEST, TRACES),
    "trainer": (EVERY_COMMAND, DATABASE, MESSAGING, TRAINER, TRACES),
    "reporter": (EVERY_COMMAND, DATABASE, MESSAGING, REPORTER, TRACES),
    OPERATOR_COMMANDS: (EVERY_COMMAND, DATABASE),
}
"""What each command reads (every command reads ``EVERY_COMMAND``'s)."""


def read_by(command: str) -> tuple[Declared, ...]:
    return tuple(setting for group in READERS[command] for setting in group.settings)


def readers(setting: Declared) -> tuple[str, ...]:
    """The commands that read ``setting``, or ``("every command",)``."""
    if setting in EVERY_COMMAND.settings:
        return ("every command",)
    return tuple(command for command in READERS if setting in read_by(command))


def declared() -> tuple[Declared, ...]:
    """Every declared setting, once, in the order of the documentation."""
    return tuple(dict.fromkeys(s for group in GROUPS for s in group.settings))
