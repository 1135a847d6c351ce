"""No secret is ever printed: every command runs at DEBUG with distinctive secrets in every
form a setting can take (a URL's password, a ``password=`` parameter, ``*_FILE`` contents, a
webhook secret, an API key, role passwords), a run goes all the way to COMPLETE through the
fake Labelbox, and neither any output, nor the database dump, nor the artifacts contain any of
them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from fake_labelbox.demo_client import (
    TEXT_CLASSIFICATION,
    send_until_accepted,
    wait_for_terminal,
)
from services.reporter.entrypoint import CONSUMERS as REPORTER_CONSUMERS
from tests.conftest import BrokerNamespace
from tests.ports import free_port
from tests.process_output import read_until

SECRETS = {
    "url_password": "TbSecretUrlPw1",
    "query_password": "TbSecretQueryPw2",
    "webhook": "TbSecretWebhook3",
    "api_key": "TbSecretApiKey4",
    "ingest_role": "TbSecretIngestRole5",
    "operator_role": "TbSecretOperatorRole6",
}


def secret_environment(database_url: str, broker: BrokerNamespace, tmp_path: Path,
                       fake_port: int) -> dict[str, str]:
    parts = urlsplit(database_url)
    user = parts.username or "postgres"
    host = parts.netloc.rpartition("@")[2]
    url = urlunsplit(parts._replace(
        netloc=f"{user}:{SECRETS['url_password']}@{host}",
        query=f"password={SECRETS['query_password']}&application_name=tb"))
    url_file = tmp_path / "database-url"
    url_file.write_text(url + "\n")
    api_key_file = tmp_path / "api-key"
    api_key_file.write_text(SECRETS["api_key"] + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRAINBRIDGE_", "LABELBOX_"))}
    return {
        **env,
        "TRAINBRIDGE_LOG_LEVEL": "DEBUG",
        "TRAINBRIDGE_DATABASE_URL_FILE": str(url_file),
        "TRAINBRIDGE_AMQP_URL": broker.settings.url,
        "TRAINBRIDGE_AMQP_NAMESPACE": broker.settings.namespace,
        "TRAINBRIDGE_ARTIFACTS_URL": str(tmp_path / "artifacts"),
        "TRAINBRIDGE_WEBHOOK_SECRET": f"rotated-out-secret,{SECRETS['webhook']}",
        "LABELBOX_API_KEY_FILE": str(api_key_file),
        "TRAINBRIDGE_LABELBOX_ENDPOINT": f"http://127.0.0.1:{fake_port}/graphql",
        "TRAINBRIDGE_INGEST_DATABASE_PASSWORD": SECRETS["ingest_role"],
        "TRAINBRIDGE_OPERATOR_DATABASE_PASSWORD": SECRETS["operator_role"],
        "TRAINBRIDGE_RELAY_POLL_INTERVAL": "0.2",
        "TRAINBRIDGE_EXPORT_POLL_SECONDS": "0.1",
        "TRAINBRIDGE_IMPORT_POLL_SECONDS": "0.1",
        "TRAINBRIDGE_REPORTER_METRICS_PORT": "0",
        "TRAINBRIDGE_TRAINER_METRICS_PORT": "0",
        "TRAINBRIDGE_INGEST_METRICS_PORT": "0",
        "PYTHONUNBUFFERED": "1",
    }


def leaked(text: str) -> list[str]:
    return [name for name, secret in SECRETS.items() if secret in text]


async def start(env: dict[str, str], *argv: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trainbridge", *argv, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)


def run(env: dict[str, str], *argv: str) -> str:
    done = subprocess.run([sys.executable, "-m", "trainbridge", *argv], env=env,
                          capture_output=True, text=True, timeout=120)
    return done.stdout + done.stderr


async def dump(database_url: str, program: str, *options: str) -> str:
    """``pg_dump`` / ``pg_dumpall`` of the test's database (roles hold SCRAM verifiers only)."""
    parts = urlsplit(database_url)
    connection = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432),
                  "-U", parts.username or "postgres"]
    database = [parts.path.lstrip("/")] if program == "pg_dump" else []
    done = await asyncio.to_thread(
        subprocess.run, [program, *options, *connection, *database],
        capture_output=True, text=True, check=True,
        env={**os.environ, "PGPASSWORD": parts.password or ""})
    return done.stdout


async def stop(process: asyncio.subprocess.Process, before: str) -> str:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    rest = (await asyncio.wait_for(process.communicate(), 60))[0].decode(errors="replace")
    return before + rest


async def test_no_secret_appears_in_any_output_the_database_or_the_artifacts(
    database_url: str, broker: BrokerNamespace, tmp_path: Path,
) -> None:
    broker.consumers |= {"trainer", *REPORTER_CONSUMERS}
    fake_port, ingest_port = free_port(), free_port()
    env = secret_environment(database_url, broker, tmp_path, fake_port)
    outputs = {"migrate": run(env, "migrate")}
    assert "Traceback" not in outputs["migrate"], outputs["migrate"]  # really migrated
    fake = await start(env, "fake-labelbox", "--port", str(fake_port), "--api-key",
                       SECRETS["api_key"], "--auto-create")
    services = {
        "ingest": await start(env, "ingest", "--host", "127.0.0.1", "--port", str(ingest_port)),
        "trainer": await start(env, "trainer"),
        "reporter": await start(env, "reporter"),
    }
    seen = {name: "" for name in services}
    run_id = "secret-run-1"
    try:
        for name, process in services.items():
            seen[name] = await read_until(process, "relay: connected to the broker",
                                          timeout=60)
        await asyncio.to_thread(send_until_accepted, f"http://127.0.0.1:{ingest_port}",
                                SECRETS["webhook"], run_id, TEXT_CLASSIFICATION, "model-1",
                                timeout=60, interval=0.5, log=lambda _: None)
        statuses = await asyncio.to_thread(wait_for_terminal, f"http://127.0.0.1:{fake_port}",
                                           run_id, 120, interval=0.3)
        assert statuses[-1] == "COMPLETE", statuses
    finally:
        for name, process in services.items():
            outputs[name] = await stop(process, seen[name])
        outputs["fake-labelbox"] = await stop(fake, "")

    for argv in (["runs"], ["runs", "--json"], ["audit", run_id], ["audit", run_id, "--json"],
                 ["parked"], ["verify"], ["verify", "--print-anchor"], ["redrive"],
                 ["replay", "--dry-run"], ["retry", run_id, "--reason", "test"],
                 ["runs", "--since", "not-a-time"]):
        outputs[" ".join(argv)] = run(env, *argv)
    outputs["pg_dump"] = await dump(database_url, "pg_dump", "--no-owner")
    outputs["roles"] = await dump(database_url, "pg_dumpall", "--roles-only")
    for path in (tmp_path / "artifacts").rglob("*"):
        if path.is_file():
            outputs[f"artifact {path.name}"] = path.read_bytes().decode(errors="replace")

    assert all('"level": "DEBUG"' in outputs[name] for name in services)
    assert "COMPLETE" in outputs["runs"]
    assert any(name.startswith("artifact") for name in outputs)
    assert {name: leaked(text) for name, text in outputs.items() if leaked(text)} == {}


async def test_no_secret_appears_in_the_output_of_trainbridge_dev(
    database_url: str, broker: BrokerNamespace, tmp_path: Path,
) -> None:
    """``trainbridge dev`` (migrate, then ingest, trainer and reporter as its children, each
    child's output prefixed and relayed) with the same secrets, through a run to COMPLETE at
    the fake Labelbox and a Ctrl-C."""
    broker.consumers |= {"trainer", *REPORTER_CONSUMERS}
    fake_port, ingest_port = free_port(), free_port()
    env = secret_environment(database_url, broker, tmp_path, fake_port)
    fake = await start(env, "fake-labelbox", "--port", str(fake_port), "--api-key",
                       SECRETS["api_key"], "--auto-create")
    dev = await start(env, "dev", "--port", str(ingest_port))
    output = ""
    run_id = "secret-dev-run-1"
    try:
        # every service up (uvicorn interrupted during its start-up would not shut down)
        output = await read_until(dev, "Application startup complete.", "trainer: consuming",
                                  "reporter: consuming", "reporter-acknowledge: consuming",
                                  timeout=60)
        await asyncio.to_thread(send_until_accepted, f"http://127.0.0.1:{ingest_port}",
                                SECRETS["webhook"], run_id, TEXT_CLASSIFICATION, "model-1",
                                timeout=30, interval=0.5, log=lambda _: None)
        statuses = await asyncio.to_thread(wait_for_terminal, f"http://127.0.0.1:{fake_port}",
                                           run_id, 30, interval=0.3)
        assert statuses[-1] == "COMPLETE", statuses
        dev.send_signal(signal.SIGINT)
        output += (await asyncio.wait_for(dev.communicate(), 45))[0].decode(errors="replace")
        assert dev.returncode == 0, output[-3000:]
    finally:
        if dev.returncode is None:
            dev.kill()
            await dev.wait()
        await stop(fake, "")

    lines = output.splitlines()
    assert any(line.startswith("migrate      | ") for line in lines)
    for name in ("ingest", "trainer", "reporter"):  # each child logged at DEBUG through dev
        assert any(line.startswith(f"{name:<13}| ") and " DEBUG " in line  # readable lines
                   for line in lines), name
    assert "stopped trainer (exit code 0)" in output, output[-3000:]
    assert leaked(output) == []
