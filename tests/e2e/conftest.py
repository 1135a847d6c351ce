"""The whole system for end-to-end tests: `trainbridge ingest`, `trainer` and `reporter` as
real processes (supervised, and restarted when killed, as `trainbridge dev` runs them) on
real PostgreSQL and RabbitMQ, with the reporter's real SDK calling the fake Labelbox."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from eventlog.migrate import SERVICE_ROLES
from services.reporter.entrypoint import CONSUMERS as REPORTER_CONSUMERS
from tests.conftest import BrokerNamespace
from tests.fake_labelbox import FakeLabelbox
from tests.integration.helpers import eventually
from tests.ports import free_port
from tests.signing import signed
from trainbridge.cli import main
from trainbridge.dev import ChildSpec, Supervisor

SECRET = "e2e-secret"
TERMINAL = ("COMPLETE", "FAILED")



@dataclass
class System:
    supervisor: Supervisor
    stop: asyncio.Event
    ingest_url: str
    fake: FakeLabelbox
    http: httpx.AsyncClient
    accepted: dict[str, int]
    """Model run → HTTP status of the webhook's 2xx answer."""
    metrics_urls: dict[str, str]
    """Service → the URL of its ``/metrics``."""

    async def request(self, run: str, model_type: str = "text_single_classification",
                      headers: dict[str, str] | None = None) -> httpx.Response:
        body = json.dumps({"modelRunId": run, "modelType": model_type,
                           "modelId": "model-1"}).encode()
        response = await self.http.post(f"{self.ingest_url}/model_run", content=body,
                                         headers={**signed(body, SECRET),
                                                  "Content-Type": "application/json",
                                                  **(headers or {})})
        if response.is_success:
            self.accepted[run] = response.status_code
        return response

    async def wait_terminal(self, runs: list[str], timeout: float = 120) -> None:
        async def all_terminal() -> bool:
            return all(self.fake.control.statuses(r)[-1:] in (["COMPLETE"], ["FAILED"])
                       for r in runs)

        await eventually(all_terminal, timeout, interval=0.2)

    def pid(self, name: str) -> int:
        process = self.supervisor.children[name].process
        assert process is not None and process.returncode is None, name
        return process.pid


def environment(database_url: str, broker: BrokerNamespace, fake: FakeLabelbox,
                tmp_path: Path, ingest_port: int,
                metrics_ports: dict[str, int]) -> dict[str, str]:
    return {
        **os.environ,
        "TRAINBRIDGE_DATABASE_URL": database_url,
        "TRAINBRIDGE_AMQP_URL": broker.settings.url,
        "TRAINBRIDGE_AMQP_NAMESPACE": broker.settings.namespace,
        "TRAINBRIDGE_AMQP_RETRY_DELAY": "0.2",
        "TRAINBRIDGE_AMQP_RECONNECT_DELAY": "0.3",
        "TRAINBRIDGE_ARTIFACTS_URL": str(tmp_path / "artifacts"),
        "TRAINBRIDGE_WEBHOOK_SECRET": SECRET,
        "TRAINBRIDGE_RELAY_POLL_INTERVAL": "0.2",
        "TRAINBRIDGE_TRAINER_LEASE_SECONDS": "3",
        "LABELBOX_API_KEY": fake.api_key or "any-key",
        "TRAINBRIDGE_LABELBOX_ENDPOINT": fake.endpoint,
        "TRAINBRIDGE_LABELBOX_TIMEOUT_SECONDS": "5",
        "TRAINBRIDGE_LABELBOX_BACKOFF_SECONDS": "0.05",
        "TRAINBRIDGE_LABELBOX_BACKOFF_MAX_SECONDS": "1",
        "TRAINBRIDGE_EXPORT_POLL_SECONDS": "0.05",
        "TRAINBRIDGE_IMPORT_POLL_SECONDS": "0.05",
        "TRAINBRIDGE_REPORTER_SWEEP_SECONDS": "1",
        "TRAINBRIDGE_INGEST_METRICS_PORT": str(metrics_ports["ingest"]),
        "TRAINBRIDGE_TRAINER_METRICS_HOST": "127.0.0.1",
        "TRAINBRIDGE_TRAINER_METRICS_PORT": str(metrics_ports["trainer"]),
        "TRAINBRIDGE_REPORTER_METRICS_HOST": "127.0.0.1",
        "TRAINBRIDGE_REPORTER_METRICS_PORT": str(metrics_ports["reporter"]),
    }


async def allow_service_logins(database_url: str) -> None:
    """The test server trusts local connections: a role only needs LOGIN (cluster-wide)."""
    connection = await asyncpg.connect(database_url)
    try:
        for service in SERVICE_ROLES:
            await connection.execute(f"ALTER ROLE trainbridge_{service} LOGIN")
    finally:
        await connection.close()


def as_role(database_url: str, service: str) -> dict[str, str]:
    parts = urlsplit(database_url)
    netloc = f"trainbridge_{service}@{parts.hostname}:{parts.port or 5432}"
    return {"TRAINBRIDGE_DATABASE_URL": urlunsplit(parts._replace(netloc=netloc))}


@pytest.fixture
def extra_environment() -> dict[str, str]:
    """What a test module adds to the services' environment (override it there)."""
    return {}


@pytest.fixture
async def system(database_url: str, broker: BrokerNamespace, fake_labelbox: FakeLabelbox,
                 tmp_path: Path, extra_environment: dict[str, str]) -> AsyncIterator[System]:
    broker.consumers |= {"trainer", *REPORTER_CONSUMERS}
    port = free_port()
    metrics_ports = {service: free_port() for service in ("ingest", "trainer", "reporter")}
    env = {**environment(database_url, broker, fake_labelbox, tmp_path, port, metrics_ports),
           **extra_environment}
    # Each service connects as its own least-privileged role (migration 0007), as in compose.
    await allow_service_logins(database_url)
    supervisor = Supervisor([
        ChildSpec.command("ingest", "ingest", "--host", "127.0.0.1", "--port", str(port),
                          env=as_role(database_url, "ingest")),
        ChildSpec.command("trainer", "trainer", env=as_role(database_url, "trainer")),
        ChildSpec.command("reporter", "reporter", env=as_role(database_url, "reporter")),
    ], env, restart_delay=0.2, stop_timeout=20)
    stop = asyncio.Event()
    running = asyncio.create_task(supervisor.run(stop))
    async with httpx.AsyncClient(timeout=10) as http:
        built = System(supervisor, stop, f"http://127.0.0.1:{port}", fake_labelbox, http, {},
                       {service: f"http://127.0.0.1:{metrics_port}/metrics"
                        for service, metrics_port in metrics_ports.items()})

        async def ready() -> bool:
            try:
                models = await http.get(f"{built.ingest_url}/models",
                                        headers=signed(b"", SECRET))
            except httpx.HTTPError:
                return False
            return models.status_code == 200 and "text_single_classification" in models.json()

        try:
            await eventually(ready, 60, interval=0.2)
            yield built
        finally:
            stop.set()
            await asyncio.wait_for(running, 60)


def image_rows(run: str, base_url: str, names: list[str]) -> list[dict[str, Any]]:
    rows = []
    for index, name in enumerate(names):
        label = name.split("-")[0]
        split = ("training", "training", "training", "validation", "test")[index % 5]
        rows.append({
            "data_row": {"id": f"img-dr-{index}", "global_key": name,
                         "row_data": f"{base_url}/{name}.png"},
            "media_attributes": {"mime_type": "image/png"},
            "experiments": {"model-1": {"runs": {run: {"split": split, "labels": [{
                "annotations": {"classifications": [{"name": "colour",
                                                     "radio_answer": {"name": label}}],
                                "objects": [], "relationships": []}}]}}}},
        })
    return rows


async def cli_json(database_url: str, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code = await asyncio.to_thread(main, [*args, "--json"],
                                   {"TRAINBRIDGE_DATABASE_URL": database_url})
    assert code == 0, args
    # the services' output, relayed by the supervisor, is captured too: decode the command's
    # (possibly indented) JSON, the last document that starts a line
    out = capsys.readouterr().out
    starts = [i for i, ch in enumerate(out) if ch in "[{" and (i == 0 or out[i - 1] == "\n")]
    for start in reversed(starts):
        try:
            value, _ = json.JSONDecoder().raw_decode(out[start:])
        except json.JSONDecodeError:
            continue
        return value
    raise AssertionError(f"no JSON in the output of {args}: {out[-500:]}")
