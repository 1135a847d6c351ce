"""Every configuration mistake an operator can make against PostgreSQL or RabbitMQ ends the
command at once with one line on stderr, naming the setting (its value redacted) and the fix,
and exit status 2: never a traceback, never silence, never a retry loop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from eventlog import migrate
from eventlog.errors import MisconfiguredError
from eventlog.postgres import SCHEMA_REVISION, misconfiguration
from eventlog.settings import DatabaseSettings, RelaySettings
from tests.conftest import BrokerNamespace, with_database
from tests.ports import free_port
from tests.services import ServiceEndpoints


async def trainbridge(*argv: str, **environ: str) -> tuple[int, str]:
    """Run `trainbridge ARGV` with only these settings; its exit status and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trainbridge", *argv,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **environ},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:  # it kept running: the failure this file is about
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, err.decode()


def with_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


def one_line(err: str) -> str:
    """The error: stderr's last line, after nothing but log lines (no traceback)."""
    lines = err.splitlines()
    assert "Traceback" not in err, err
    assert lines[-1].startswith("trainbridge: configuration error: TRAINBRIDGE_"), err
    assert all(" INFO " in line or line.startswith('{"ts"') for line in lines[:-1]), err
    return lines[-1]


SERVICE_ENV = {"TRAINBRIDGE_WEBHOOK_SECRET": "s", "LABELBOX_API_KEY": "k",
               "TRAINBRIDGE_REPORTER_METRICS_PORT": "0", "TRAINBRIDGE_TRAINER_METRICS_PORT": "0",
               "TRAINBRIDGE_INGEST_METRICS_PORT": "0"}


@pytest.mark.parametrize("command", ["migrate", "runs", "ingest"])
async def test_a_role_that_does_not_exist_is_one_line_with_the_fix(
    command: str, database_url: str, broker: BrokerNamespace,
) -> None:
    code, err = await trainbridge(
        command, TRAINBRIDGE_DATABASE_URL=with_user(database_url, "no_such_role_cfg"),
        TRAINBRIDGE_AMQP_URL=broker.settings.url, **SERVICE_ENV)

    line = one_line(err)
    assert code == 2
    # A server that trusts local connections says the role does not exist; one that asks for
    # passwords (the harness's container: its URL carries one) never tells a client whether
    # a role exists.
    if urlsplit(database_url).password is None:
        assert 'role "no_such_role_cfg" does not exist' in line, line
    else:
        assert 'password authentication failed for user "no_such_role_cfg"' in line, line
    assert "run `trainbridge migrate`" in line


@pytest.mark.parametrize("command", ["runs", "trainer"])
async def test_a_missing_database_is_one_line_with_the_fix(
    command: str, services: ServiceEndpoints, broker: BrokerNamespace,
) -> None:
    url = with_database(services.database_url, "tb_cfg_never_created")
    code, err = await trainbridge(command, TRAINBRIDGE_DATABASE_URL=url,
                                  TRAINBRIDGE_AMQP_URL=broker.settings.url, **SERVICE_ENV)

    line = one_line(err)
    assert code == 2
    assert 'database "tb_cfg_never_created" does not exist' in line
    assert "run `trainbridge migrate` (it creates the database)" in line


@pytest.mark.parametrize("command", [
    "runs", "parked", "audit r-1", "verify", "redrive", "replay --dry-run",
    "retry r-1 --reason x", "ingest", "trainer", "reporter",
])
async def test_an_unmigrated_database_is_one_line_telling_to_migrate(
    command: str, empty_database: str, broker: BrokerNamespace,
) -> None:
    code, err = await trainbridge(*command.split(), TRAINBRIDGE_DATABASE_URL=empty_database,
                                  TRAINBRIDGE_AMQP_URL=broker.settings.url, **SERVICE_ENV)

    line = one_line(err)
    assert code == 2
    assert "the database has no Trainbridge schema" in line
    assert line.endswith("run `trainbridge migrate`")


@pytest.mark.parametrize("command", ["ingest", "trainer", "reporter"])
async def test_services_refuse_a_schema_older_than_their_code(
    command: str, empty_database: str, broker: BrokerNamespace,
) -> None:
    await asyncio.to_thread(migrate.upgrade, empty_database, "0007")
    # The server's own password where it asks for one; where it trusts (a local server), a
    # password it never checks.
    parts = urlsplit(empty_database)
    password = parts.password or "db-pw-zz"
    url = urlunsplit(parts._replace(
        netloc=f"{parts.username}:{password}@{parts.hostname}:{parts.port}")) + "?sslmode=disable"

    code, err = await trainbridge(command, TRAINBRIDGE_DATABASE_URL=url,
                                  TRAINBRIDGE_AMQP_URL=broker.settings.url, **SERVICE_ENV)

    line = one_line(err)
    assert code == 2
    assert (f"the schema is at revision 0007, this version of Trainbridge needs "
            f"{SCHEMA_REVISION}; run `trainbridge migrate`") in line
    starting = json.loads(err.splitlines()[0])["message"]
    assert starting.startswith(f"trainbridge {command} {version('trainbridge')} starting: "
                               f"database={url.replace(password, '***')} broker=amqp://")
    assert password not in err


async def test_operator_commands_refuse_a_schema_older_than_their_code(
    empty_database: str,
) -> None:
    """Like the services (eventlog.preflight): the compose `operator` tool no longer runs
    `migrate` first, so a schema `migrate` has not brought up to date must say so."""
    await asyncio.to_thread(migrate.upgrade, empty_database, "0007")
    commands = ["runs", "parked", "audit r-1", "verify", "redrive", "replay --dry-run",
                "retry r-1 --reason x"]

    results = await asyncio.gather(*(
        trainbridge(*command.split(), TRAINBRIDGE_DATABASE_URL=empty_database)
        for command in commands))

    for command, (code, err) in zip(commands, results, strict=True):
        line = one_line(err)
        assert code == 2, (command, err)
        assert line.endswith(
            f"the schema is at revision 0007, this version of Trainbridge needs "
            f"{SCHEMA_REVISION}; run `trainbridge migrate`"), (command, line)


async def test_a_wrong_broker_password_stops_a_service_with_one_line(
    database_url: str, broker: BrokerNamespace,
) -> None:
    parts = urlsplit(broker.settings.url)
    host = parts.netloc.rpartition("@")[2]
    wrong = urlunsplit(parts._replace(netloc=f"guest:not-the-password-zz@{host}"))

    code, err = await trainbridge("trainer", TRAINBRIDGE_DATABASE_URL=database_url,
                                  TRAINBRIDGE_AMQP_URL=wrong)

    line = one_line(err)
    assert code == 2
    assert line.startswith("trainbridge: configuration error: TRAINBRIDGE_AMQP_URL=amqp://"
                           "guest:***@")
    assert "RabbitMQ refused the user name or password" in line
    assert "not-the-password-zz" not in err


def test_a_refused_password_names_the_setting_and_the_fix_without_the_password() -> None:
    # The shared test server trusts local connections, so the driver's error is built here.
    refused = misconfiguration(
        asyncpg.InvalidPasswordError('password authentication failed for user "app"'),
        "postgresql://app:hunter22@db/trainbridge")

    assert refused is not None
    assert str(refused) == (
        "TRAINBRIDGE_DATABASE_URL=postgresql://app:***@db/trainbridge: PostgreSQL refused the "
        'password (password authentication failed for user "app"); fix the URL, or set the '
        "service role's password: run `trainbridge migrate` with "
        "TRAINBRIDGE_<SERVICE>_DATABASE_PASSWORD")


async def test_a_metrics_port_already_in_use_stops_the_reporter_with_one_line(
    database_url: str, broker: BrokerNamespace,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = await trainbridge(
            "reporter", "--metrics-port", str(port), TRAINBRIDGE_DATABASE_URL=database_url,
            TRAINBRIDGE_AMQP_URL=broker.settings.url,
            TRAINBRIDGE_AMQP_NAMESPACE=broker.settings.namespace,
            TRAINBRIDGE_REPORTER_METRICS_HOST="127.0.0.1", LABELBOX_API_KEY="k")

    line = one_line(err)
    assert code == 2
    assert line == (
        f"trainbridge: configuration error: TRAINBRIDGE_REPORTER_METRICS_PORT={port}: cannot "
        f"serve /metrics on 127.0.0.1:{port} (Address already in use); another reporter on "
        "this host? Choose a free port (--metrics-port), or 0 to turn /metrics off")


async def test_a_metrics_port_already_in_use_stops_ingest_with_one_line(
    database_url: str, broker: BrokerNamespace,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = await trainbridge(
            "ingest", "--host", "127.0.0.1", "--port", str(free_port()), "--metrics-port",
            str(port), TRAINBRIDGE_DATABASE_URL=database_url,
            TRAINBRIDGE_AMQP_URL=broker.settings.url,
            TRAINBRIDGE_AMQP_NAMESPACE=broker.settings.namespace,
            TRAINBRIDGE_WEBHOOK_SECRET="s")

    line = one_line(err)
    assert code == 2
    assert line == (
        f"trainbridge: configuration error: TRAINBRIDGE_INGEST_METRICS_PORT={port}: cannot "
        f"serve /metrics on 127.0.0.1:{port} (Address already in use); another ingest on "
        "this host? Choose a free port (--metrics-port), or 0 to turn /metrics off")


async def test_ingest_stops_when_the_broker_refuses_its_relay(
    database_url: str, broker: BrokerNamespace,
) -> None:
    """Past the start-up check (credentials changed while running): ingest must not keep
    accepting requests that its relay can never publish."""
    from services.ingest.entrypoint import serve
    from services.ingest.settings import IngestSettings

    parts = urlsplit(broker.settings.url)
    host = parts.netloc.rpartition("@")[2]
    refused = replace(broker.settings,
                      url=urlunsplit(parts._replace(netloc=f"guest:changed-pw-zz@{host}")))
    ingest = IngestSettings(secrets=("s",), host="127.0.0.1", port=free_port())

    with pytest.raises(MisconfiguredError, match="RabbitMQ refused the user name or password"):
        await asyncio.wait_for(
            serve(ingest, DatabaseSettings(url=database_url), refused, RelaySettings()), 30)


async def test_the_trainer_stops_when_the_broker_refuses_it(
    database_url: str, broker: BrokerNamespace, tmp_path: Path,
) -> None:
    from services.trainer.entrypoint import serve
    from services.trainer.settings import TrainerSettings

    parts = urlsplit(broker.settings.url)
    host = parts.netloc.rpartition("@")[2]
    refused = replace(broker.settings,
                      url=urlunsplit(parts._replace(netloc=f"guest:changed-pw-zz@{host}")))
    trainer = TrainerSettings.from_env({"TRAINBRIDGE_ARTIFACTS_URL": str(tmp_path),
                                        "TRAINBRIDGE_TRAINER_METRICS_PORT": "0"})

    with pytest.raises(MisconfiguredError, match="RabbitMQ refused the user name or password"):
        await asyncio.wait_for(serve(trainer, DatabaseSettings(url=database_url), refused,
                                     RelaySettings(), asyncio.Event()), 30)


async def test_the_reporter_stops_when_the_broker_refuses_it(
    database_url: str, broker: BrokerNamespace, tmp_path: Path,
) -> None:
    from services.reporter.entrypoint import serve
    from services.reporter.settings import ReporterSettings

    parts = urlsplit(broker.settings.url)
    host = parts.netloc.rpartition("@")[2]
    refused = replace(broker.settings,
                      url=urlunsplit(parts._replace(netloc=f"guest:changed-pw-zz@{host}")))
    reporter = ReporterSettings.from_env({
        "LABELBOX_API_KEY": "k", "TRAINBRIDGE_REPORTER_METRICS_PORT": "0",
        "TRAINBRIDGE_ARTIFACTS_URL": str(tmp_path),
        "TRAINBRIDGE_LABELBOX_ENDPOINT": f"http://127.0.0.1:{free_port()}/graphql"})

    with pytest.raises(MisconfiguredError, match="RabbitMQ refused the user name or password"):
        await asyncio.wait_for(serve(reporter, DatabaseSettings(url=database_url), refused,
                                     RelaySettings(), asyncio.Event()), 30)


async def test_a_database_unreachable_at_start_is_waited_for_and_logged_once(
    broker: BrokerNamespace,
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trainbridge", "trainer",
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
             "TRAINBRIDGE_DATABASE_URL": f"postgresql://app:db-pw-zz@127.0.0.1:{free_port()}/x",
             "TRAINBRIDGE_AMQP_URL": broker.settings.url,
             "TRAINBRIDGE_AMQP_RECONNECT_DELAY": "0.05", "TRAINBRIDGE_LOG_LEVEL": "DEBUG"},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    await asyncio.sleep(3)
    assert process.returncode is None  # waiting, not dead
    process.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(process.communicate(), 30)

    assert process.returncode == 0
    lines = [json.loads(line) for line in err.decode().splitlines()]
    warnings = [line["message"] for line in lines if line["level"] == "WARNING"]
    retries = [line for line in lines if "still failing" in line["message"]]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("database postgresql://app:***@127.0.0.1:")
    assert "retrying with backoff" in warnings[0]
    assert 2 <= len(retries) <= 9  # doubling from 0.05 s: not 60 tries in 3 s
    assert "db-pw-zz" not in err.decode()
