"""Where the tests find PostgreSQL and RabbitMQ: the URLs in TRAINBRIDGE_TEST_DATABASE_URL and
TRAINBRIDGE_TEST_AMQP_URL when set, else containers started through testcontainers, else a
loud failure that says how to provide them. Never a silent skip."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

POSTGRES_IMAGE = "postgres:15.8-alpine"
RABBITMQ_IMAGE = "rabbitmq:3.13-management-alpine"

CONTAINER_PASSWORD = "tc-pg-password"
"""The password of the database user in a container testcontainers starts: distinctive, so tests
can check it never shows in output."""

HOW_TO_PROVIDE = (
    "The integration tests need PostgreSQL and RabbitMQ. Either export\n"
    "  TRAINBRIDGE_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres\n"
    "  TRAINBRIDGE_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:5672/\n"
    "pointing at running servers (the database user must be allowed to CREATE DATABASE),\n"
    "or run the tests where a Docker engine is available so testcontainers can start "
    f"{POSTGRES_IMAGE} and {RABBITMQ_IMAGE}."
)


class ServicesUnavailableError(RuntimeError):
    pass


class BrokerControl(Protocol):
    def stop_app(self) -> None: ...
    def start_app(self) -> None: ...


class LocalRabbitmqctl:
    """Stops and starts the RabbitMQ application of the node on this machine."""

    def _run(self, *args: str) -> None:
        subprocess.run(["rabbitmqctl", "-q", *args], check=True, timeout=120)

    def stop_app(self) -> None:
        self._run("stop_app")

    def start_app(self) -> None:
        self._run("start_app")
        self._run("await_startup")


class ContainerRabbitmqctl:
    def __init__(self, container: object) -> None:
        self._container = container

    def _run(self, *args: str) -> None:
        code, output = self._container.exec(["rabbitmqctl", "-q", *args])  # type: ignore[attr-defined]
        if code != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {output!r}")

    def stop_app(self) -> None:
        self._run("stop_app")

    def start_app(self) -> None:
        self._run("start_app")
        self._run("await_startup")


@dataclass
class ServiceEndpoints:
    database_url: str
    """A maintenance database; each test gets its own database cloned from a template."""
    amqp_url: str
    broker_control: BrokerControl | None
    broker_control_problem: str = ""


def _run_labels() -> dict[str, dict[str, str]]:
    """A label naming this test run on its containers (TRAINBRIDGE_TEST_CONTAINER_RUN, set by
    tests/compose/testcontainers.sh), so the script removes what this run left behind when
    Ryuk cannot, and nothing else on the engine."""
    run = os.environ.get("TRAINBRIDGE_TEST_CONTAINER_RUN")
    return {"labels": {"io.trainbridge.test-run": run}} if run else {}


def _is_local(url: str) -> bool:
    return urlsplit(url).hostname in {"127.0.0.1", "localhost", "::1"}


@contextmanager
def provide_services() -> Iterator[ServiceEndpoints]:
    database_url = os.environ.get("TRAINBRIDGE_TEST_DATABASE_URL")
    amqp_url = os.environ.get("TRAINBRIDGE_TEST_AMQP_URL")
    with ExitStack() as stack:
        control: BrokerControl | None = None
        problem = ""
        if database_url is None or amqp_url is None:
            try:
                from testcontainers.community.postgres import PostgresContainer
                from testcontainers.community.rabbitmq import RabbitMqContainer

                if database_url is None:
                    pg = stack.enter_context(PostgresContainer(
                        POSTGRES_IMAGE, username="trainbridge", password=CONTAINER_PASSWORD,
                        dbname="trainbridge", driver=None, **_run_labels()))
                    database_url = pg.get_connection_url()
                if amqp_url is None:
                    rabbit = stack.enter_context(RabbitMqContainer(RABBITMQ_IMAGE,
                                                                   **_run_labels()))
                    params = rabbit.get_connection_params()
                    amqp_url = (
                        f"amqp://guest:guest@{params.host}:{params.port}/"
                    )
                    control = ContainerRabbitmqctl(rabbit)
            except Exception as exc:  # no Docker engine, image pull refused, ...
                raise ServicesUnavailableError(
                    f"{HOW_TO_PROVIDE}\n\ntestcontainers could not start them: {exc!r}"
                ) from exc
        elif _is_local(amqp_url) and shutil.which("rabbitmqctl"):
            control = LocalRabbitmqctl()
        else:
            problem = (
                "broker restart tests need rabbitmqctl for the broker at "
                f"{urlsplit(amqp_url).hostname}: run them on the broker's machine"
            )
        assert database_url is not None and amqp_url is not None
        yield ServiceEndpoints(database_url, amqp_url, control, problem)
