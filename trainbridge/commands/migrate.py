"""``trainbridge migrate``: bring the database schema up to date (Alembic), then set the
service roles' passwords."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping

from eventlog.settings import log_format, log_level
from trainbridge.commands.common import Subparsers


def add_parser(commands: Subparsers[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "migrate",
        help="apply the database migrations (safe to run twice or concurrently)",
        description="Bring TRAINBRIDGE_DATABASE_URL's schema up to date.",
    )
    parser.add_argument("--revision", default="head", help="target revision (default: head)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Logs like the services, once the settings are read: JSON lines by default (Alembic's
    ``Running upgrade …`` lines too, their multi-line descriptions kept inside one object),
    or the readable lines ``TRAINBRIDGE_LOG_FORMAT`` may choose."""
    from importlib.metadata import version

    from eventlog import migrate
    from eventlog.json_logs import use_json_logs
    from eventlog.redaction import RedactingFilter, known_secrets, redact
    from eventlog.settings import DatabaseSettings, read_setting

    settings = DatabaseSettings.from_env(environ)
    use_json_logs(log_level(environ), RedactingFilter(known_secrets(environ)),
                  log_format(environ))
    logging.getLogger("trainbridge").info("trainbridge migrate %s: migrating %s to %s",
                                          version("trainbridge"), redact(settings.url),
                                          args.revision)
    migrate.upgrade(settings.url, args.revision)
    passwords = {
        service: password for service, setting in migrate.LOGIN_PASSWORD_SETTINGS.items()
        if (password := read_setting(environ, setting))
    }
    migrate.grant_logins(settings.url, passwords)
    return 0
