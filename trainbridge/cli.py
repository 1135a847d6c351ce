"""``trainbridge`` — one entry point for every service and operator command.

Settings are read from the environment here, once, and passed down. Each subcommand
imports its service lazily, so ``trainbridge migrate`` never loads the Labelbox SDK."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from eventlog.amqp import quiet_driver_logs
from eventlog.errors import EventLogError, MisconfiguredError
from eventlog.redaction import RedactingFilter, known_secrets, mask, redact
from eventlog.settings import (
    BrokerSettings,
    DatabaseSettings,
    RelaySettings,
    SettingsError,
)

T = TypeVar("T")


def _migrate(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Logs JSON lines like the services (Alembic's ``Running upgrade …`` lines too, their
    multi-line descriptions kept inside one object), once the settings are read."""
    from importlib.metadata import version

    from eventlog import migrate
    from eventlog.json_logs import use_json_logs
    from eventlog.settings import read_setting

    settings = DatabaseSettings.from_env(environ)
    use_json_logs(log_level(environ), RedactingFilter(known_secrets(environ)))
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


def _service_settings(
    environ: Mapping[str, str],
) -> tuple[DatabaseSettings, BrokerSettings, RelaySettings]:
    """What every long-running service reads: database, broker and relay settings. It also
    switches logging to JSON lines (after the settings, so a configuration error still
    reads as plain text), keeping the redaction."""
    from eventlog.json_logs import use_json_logs

    settings = (DatabaseSettings.from_env(environ), BrokerSettings.from_env(environ),
                RelaySettings.from_env(environ))
    use_json_logs(log_level(environ), RedactingFilter(known_secrets(environ)))
    return settings


def _starting(service: str, database: DatabaseSettings, broker: BrokerSettings,
              **details: object) -> None:
    """The one line a service logs before it starts: what runs, where it connects (redacted)
    and the settings that matter to an operator reading the log."""
    from importlib.metadata import version

    shown = ", ".join(f"{name}={value}" for name, value in details.items())
    logging.getLogger("trainbridge").info(
        "trainbridge %s %s starting: database=%s broker=%s namespace=%s log_level=%s%s",
        service, version("trainbridge"), redact(database.url), redact(broker.url),
        broker.namespace, logging.getLevelName(logging.getLogger().level),
        f" {shown}" if shown else "")


def _dependencies_ready(database: DatabaseSettings, broker: BrokerSettings) -> bool:
    """Check the database's schema and the broker's credentials before serving (see
    eventlog.preflight); False if a signal arrived while waiting for the database."""
    import asyncio

    from eventlog.preflight import check_dependencies
    from eventlog.runner import run_until_signalled

    ready: list[bool] = []

    async def check(stop: asyncio.Event) -> None:
        ready.append(await check_dependencies(database, broker, stop))

    asyncio.run(run_until_signalled(check))
    return bool(ready and ready[0])


def _on_migrated_database(database: DatabaseSettings, command: Callable[[], Awaitable[T]]) -> T:
    """Run a one-shot command once the database has the schema this code needs
    (eventlog.preflight): on a database not migrated, or migrated by an older version, the
    command ends with one line telling to run `trainbridge migrate` (exit 2), before any of
    its queries fails in its own way. The compose `operator` tool relies on it: it no longer
    runs `migrate` first."""
    import asyncio

    from eventlog.preflight import check_database

    async def checked() -> T:
        await check_database(database)
        return await command()

    return asyncio.run(checked())


def _ingest(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    import asyncio
    from dataclasses import replace

    from services.ingest.entrypoint import serve
    from services.ingest.settings import IngestSettings

    ingest = replace(IngestSettings.from_env(environ), host=args.host, port=args.port)
    database, broker, relay = _service_settings(environ)
    _starting("ingest", database, broker, listen=f"{ingest.host}:{ingest.port}",
              webhook_secrets=len(ingest.secrets), max_body_bytes=ingest.max_body_bytes)
    if not _dependencies_ready(database, broker):
        return 0
    asyncio.run(serve(ingest, database, broker, relay))
    return 0


def _trainer(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    import asyncio
    from dataclasses import replace

    from eventlog.runner import run_until_signalled
    from services.trainer.entrypoint import serve
    from services.trainer.settings import TrainerSettings

    trainer = TrainerSettings.from_env(environ)
    if args.metrics_port is not None:
        trainer = replace(trainer, metrics_port=args.metrics_port)
    database, broker, relay = _service_settings(environ)
    _starting("trainer", database, broker, trainer_id=trainer.trainer_id,
              artifacts=redact(trainer.artifacts_url), lease_seconds=trainer.lease_seconds,
              memory_limit_bytes=trainer.memory_limit_bytes,
              health=f"{trainer.metrics_host}:{trainer.metrics_port}"
              if trainer.metrics_port else "off")
    if not _dependencies_ready(database, broker):
        return 0
    asyncio.run(run_until_signalled(lambda stop: serve(trainer, database, broker, relay, stop)))
    return 0


def _reporter(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    import asyncio
    from dataclasses import replace

    from eventlog.runner import run_until_signalled
    from services.reporter.entrypoint import serve
    from services.reporter.settings import ReporterSettings

    reporter = ReporterSettings.from_env(environ)
    if args.metrics_port is not None:
        reporter = replace(reporter, metrics_port=args.metrics_port)
    database, broker, relay = _service_settings(environ)
    _starting("reporter", database, broker, reporter_id=reporter.reporter_id,
              labelbox=redact(reporter.endpoint), artifacts=redact(reporter.artifacts_url),
              metrics=f"{reporter.metrics_host}:{reporter.metrics_port}"
              if reporter.metrics_port else "off",
              concurrency=reporter.concurrency)
    if not _dependencies_ready(database, broker):
        return 0
    asyncio.run(run_until_signalled(lambda stop: serve(reporter, database, broker, relay, stop)))
    return 0


def _fake_labelbox(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from services.fake_labelbox.runner import serve

    serve(host=args.host, port=args.port, api_key=args.api_key, auto_create=args.auto_create,
          sample_model_runs=args.sample_model_run or ())
    return 0


def _dev(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from trainbridge.dev import DevOptions
    from trainbridge.dev import main as dev

    return dev(DevOptions(port=args.port, demo=args.demo, fake_port=args.fake_port,
                          once=args.once), environ)


def _retry(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    import getpass
    import json

    from eventlog.postgres import PostgresEventStore, pooled
    from trainbridge.retry import RetryRefusedError, retry_run

    database = DatabaseSettings.from_env(environ)
    by = args.by or environ.get("USER") or getpass.getuser()

    async def retry() -> int:
        try:
            async with pooled(database) as pool:
                retried = await retry_run(PostgresEventStore(pool), args.model_run_id, by=by,
                                          reason=args.reason)
        except RetryRefusedError as exc:
            print(f"trainbridge retry: {exc}", file=sys.stderr)
            return 1
        if args.json:
            print(json.dumps({"modelRunId": retried.model_run_id, "attempt": retried.attempt,
                              "eventId": str(retried.event_id), "requestedBy": by,
                              "reason": args.reason}))
        else:
            print(f"model run {retried.model_run_id}: attempt {retried.attempt} requested by "
                  f"{by} ({args.reason})")
        return 0

    return _on_migrated_database(database, retry)


def _verify(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    import asyncio
    import json
    from pathlib import Path

    from trainbridge import verify

    database = DatabaseSettings.from_env(environ)
    anchor = None
    if args.anchor is not None:
        try:
            anchor = verify.parse_anchor(Path(args.anchor).read_text(encoding="utf-8"))
        except (OSError, verify.AnchorError) as exc:
            print(f"trainbridge verify: {args.anchor}: {exc}", file=sys.stderr)
            return 2
    result = _on_migrated_database(database,
                                   lambda: verify.verify(database, args.stream, anchor))
    if args.print_anchor:
        if not result.intact:  # never anchor a log that is already broken
            verify.print_report(result, sys.stderr)
            return 1
        document = asyncio.run(verify.anchor_document(database, args.stream))
        print(json.dumps(document, indent=1, sort_keys=True))
        return 0
    if args.json:
        print(json.dumps(result.as_json(), indent=2))
    else:
        verify.print_report(result, sys.stdout)
    return 0 if result.intact else 1


def _replay(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    import json

    from eventlog.postgres import pooled
    from services.reporter.replay import ReplayReport, replay_ledger

    database = DatabaseSettings.from_env(environ)

    async def replay() -> ReplayReport:
        async with pooled(database) as pool:
            return await replay_ledger(pool, dry_run=args.dry_run)

    report = _on_migrated_database(database, replay)
    if args.json:
        print(json.dumps({"before": report.before, "delivered": report.delivered,
                          "parked": report.parked, "dryRun": args.dry_run}))
    else:
        verb = "would rebuild" if args.dry_run else "rebuilt"
        print(f"{verb} the reporter's ledger from history: {report.delivered} delivered, "
              f"{report.parked} parked (it held {report.before} rows); nothing was sent to "
              "Labelbox")
    return 0


def _redrive(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from eventlog.postgres import pooled
    from services.reporter.ledger import Ledger

    database = DatabaseSettings.from_env(environ)

    async def redrive() -> list[str]:
        async with pooled(database) as pool:
            return await Ledger(pool).request_redrive(args.model_run)

    streams = _on_migrated_database(database, redrive)
    if args.json:
        import json

        from eventlog.contract import model_run_id_of

        print(json.dumps({"redriven": [model_run_id_of(s) for s in streams]}))
        return 0
    for stream_id in streams:
        print(f"redrive requested: {stream_id}")
    print(f"{len(streams)} model run(s) will be retried by the reporter's next sweep"
          if streams else "no parked deliveries")
    return 0


def _operator(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """``runs``, ``audit`` and ``parked``: read-only views of the log (trainbridge.operator)."""
    from functools import partial

    from trainbridge import operator

    database = DatabaseSettings.from_env(environ)
    try:
        if args.command == "runs":
            where = operator.RunFilter(
                status=operator.parse_status(args.status) if args.status else None,
                model_type=args.model_type,
                since=operator.parse_since(args.since) if args.since else None,
                limit=args.limit)
            query = partial(operator.runs_command, database, where, as_json=args.json)
        elif args.command == "audit":
            query = partial(operator.audit_command, database, args.model_run_id,
                            as_json=args.json)
        else:
            query = partial(operator.parked_command, database, as_json=args.json)
        output = _on_migrated_database(database, query)
    except (ValueError, operator.UnknownModelRunError) as exc:
        print(f"trainbridge {args.command}: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(output)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trainbridge",
        description="Event-sourced backend behind Labelbox's 'Train Model' button.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    migrate = commands.add_parser(
        "migrate",
        help="apply the database migrations (safe to run twice or concurrently)",
        description="Bring TRAINBRIDGE_DATABASE_URL's schema up to date.",
    )
    migrate.add_argument("--revision", default="head", help="target revision (default: head)")
    migrate.set_defaults(run=_migrate)
    ingest = commands.add_parser(
        "ingest",
        help="serve Labelbox's webhook (GET /models, POST /model_run) and relay events",
        description="The webhook receiver. Needs TRAINBRIDGE_WEBHOOK_SECRET.",
    )
    ingest.add_argument("--host", default="0.0.0.0", help="address to listen on (0.0.0.0)")
    ingest.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    ingest.set_defaults(run=_ingest)
    trainer = commands.add_parser(
        "trainer",
        help="announce the pipelines, consume training events and train",
        description="The trainer. Pipelines come from the trainbridge.pipelines entry points.",
    )
    trainer.add_argument("--metrics-port", type=int, default=None,
                         help="port of /healthz and /metrics (TRAINBRIDGE_TRAINER_METRICS_PORT, "
                              "9101; 0 turns them off)")
    trainer.set_defaults(run=_trainer)
    reporter = commands.add_parser(
        "reporter",
        help="deliver run status, metadata, exports and predictions to Labelbox",
        description="The only component that calls Labelbox. Needs LABELBOX_API_KEY.",
    )
    reporter.add_argument("--metrics-port", type=int, default=None,
                          help="port of /metrics (TRAINBRIDGE_REPORTER_METRICS_PORT, 9102; "
                               "0 turns it off)")
    reporter.set_defaults(run=_reporter)
    dev = commands.add_parser(
        "dev",
        help="migrate, then run ingest, trainer and reporter (and with --demo the fake "
             "Labelbox and a signed sample run) as child processes; Ctrl-C stops them all",
        description="The whole system without Docker, against TRAINBRIDGE_DATABASE_URL and "
                    "TRAINBRIDGE_AMQP_URL. Children that die are restarted.",
    )
    dev.add_argument("--port", type=int, default=8000, help="ingest's port (8000)")
    dev.add_argument("--demo", action="store_true",
                     help="add the fake Labelbox and send a signed sample request")
    dev.add_argument("--fake-port", type=int, default=8081, help="the fake Labelbox's port")
    dev.add_argument("--once", action="store_true",
                     help="with --demo: stop once the demo run ends (exit 0 on COMPLETE)")
    dev.set_defaults(run=_dev)
    verify = commands.add_parser(
        "verify",
        help="recompute the hash chains of the event log and the Labelbox audit log and "
             "report rows altered or removed behind the append-only triggers (exit 1)",
        description="Exit 0 when every chain is intact, 1 when anything is reported. "
                    "What it cannot see, and anchoring: README, 'Tamper evidence'.",
    )
    verify.add_argument("--stream", default=None, metavar="STREAM_ID",
                        help="only this stream and the model runs it called Labelbox for")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.add_argument("--print-anchor", action="store_true",
                        help="if intact, print every chain's head (position and hash) as JSON, "
                             "to keep outside the database")
    verify.add_argument("--anchor", default=None, metavar="FILE",
                        help="also check that the heads in FILE (from --print-anchor) are "
                             "still there, unchanged")
    verify.set_defaults(run=_verify)
    retry = commands.add_parser(
        "retry",
        help="start a new attempt of a failed model run (no new click in Labelbox needed)",
        description="Append a new TrainingRequested attempt for a failed run, recording who "
                    "asked and why; the trainer and the reporter take it from there.",
    )
    retry.add_argument("model_run_id", metavar="MODEL_RUN_ID")
    retry.add_argument("--reason", required=True, help="why (recorded with the attempt)")
    retry.add_argument("--by", default=None, help="who asks (default: $USER)")
    retry.add_argument("--json", action="store_true", help="print the result as JSON")
    retry.set_defaults(run=_retry)
    replay = commands.add_parser(
        "replay",
        help="rebuild the reporter's ledger from the audit log and the events, without "
             "calling Labelbox",
        description="Rebuild reporter_deliveries from labelbox_calls and the events the "
                    "reporter appended. Needs a role that may DELETE reporter_deliveries "
                    "(the database owner).",
    )
    replay.add_argument("--dry-run", action="store_true",
                        help="compute and report, then roll back")
    replay.add_argument("--json", action="store_true", help="print the result as JSON")
    replay.set_defaults(run=_replay)
    redrive = commands.add_parser(
        "redrive",
        help="retry the reporter's parked Labelbox deliveries (all, or one model run's)",
        description="Mark parked deliveries for another try; a running reporter picks them "
                    "up at its next sweep (TRAINBRIDGE_REPORTER_SWEEP_SECONDS).",
    )
    redrive.add_argument("--model-run", default=None, metavar="ID",
                         help="only this model run's deliveries")
    redrive.add_argument("--json", action="store_true", help="print the result as JSON")
    redrive.set_defaults(run=_redrive)
    runs = commands.add_parser(
        "runs",
        help="list model runs, newest first, with status, Labelbox status and durations",
        description="Model runs from the model_runs view, newest first.",
    )
    runs.add_argument("--status", default=None,
                      help="only runs in this status: complete, failed, in_progress")
    runs.add_argument("--model-type", default=None, metavar="TYPE", help="only this model type")
    runs.add_argument("--since", default=None, metavar="WHEN",
                      help="only runs requested since an ISO 8601 time (UTC unless it says "
                           "otherwise) or an age such as 24h, 7d")
    runs.add_argument("--limit", type=int, default=50, metavar="N",
                      help="at most N runs (50)")
    runs.add_argument("--json", action="store_true", help="print JSON")
    runs.set_defaults(run=_operator)
    audit = commands.add_parser(
        "audit",
        help="one model run's events and Labelbox calls, in time order",
        description="The run's state and its timeline (the run_timeline view).",
    )
    audit.add_argument("model_run_id", metavar="MODEL_RUN_ID")
    audit.add_argument("--json", action="store_true", help="print JSON")
    audit.set_defaults(run=_operator)
    parked = commands.add_parser(
        "parked",
        help="Labelbox deliveries waiting for an operator, with their errors",
        description="Parked deliveries (and those whose redrive is pending); retry them "
                    "with `trainbridge redrive`.",
    )
    parked.add_argument("--json", action="store_true", help="print JSON")
    parked.set_defaults(run=_operator)
    fake = commands.add_parser(
        "fake-labelbox",
        help="serve a fake Labelbox GraphQL API for tests and demos (control API: /_fake)",
        description="A stateful fake of the Labelbox API the SDK can be pointed at "
                    "(labelbox.Client(endpoint='http://HOST:PORT/graphql')).",
    )
    fake.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    fake.add_argument("--port", type=int, default=8081, help="port to listen on (8081)")
    fake.add_argument("--api-key", default=None, help="require this API key (default: any)")
    fake.add_argument("--auto-create", action="store_true",
                      help="serve unknown model run ids (with the sample rows) instead of 404")
    fake.add_argument("--sample-model-run", action="append", metavar="ID",
                      help="register a model run serving the sample text rows (repeatable)")
    fake.set_defaults(run=_fake_labelbox)
    return parser


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level(environ: Mapping[str, str]) -> str:
    level = (environ.get("TRAINBRIDGE_LOG_LEVEL") or "INFO").upper()
    if level not in LOG_LEVELS:
        raise SettingsError(f"TRAINBRIDGE_LOG_LEVEL={environ['TRAINBRIDGE_LOG_LEVEL']!r}: "
                            f"expected one of {', '.join(LOG_LEVELS)}")
    return level


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    """Run one command. Every configuration mistake ends here as one line on stderr and exit
    status 2 (a wrong setting, a database or broker that refuses our credentials, a schema
    that needs `trainbridge migrate`); other known failures as one line and status 1."""
    secrets = known_secrets(environ)
    try:
        level = log_level(environ)
    except SettingsError as exc:
        print(f"trainbridge: configuration error: {mask(str(exc), secrets)}", file=sys.stderr)
        return 2
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    redacting = RedactingFilter(secrets)
    for handler in logging.getLogger().handlers:
        for previous in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(previous)  # main() called again in the same process
        handler.addFilter(redacting)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    quiet_driver_logs()
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args, environ)
    except (SettingsError, MisconfiguredError) as exc:
        print(f"trainbridge: configuration error: {mask(str(exc), secrets)}", file=sys.stderr)
        return 2
    except EventLogError as exc:
        print(f"trainbridge: {mask(str(exc), secrets)}", file=sys.stderr)
        return 1
    return code
