"""The harness's promise (tests/services.py), in all three branches: the URLs in the environment
when set; else containers that testcontainers starts from the pinned images; else a loud
failure that says how to provide them.

The default run (`.ci/run`, `make test` with the URLs exported) takes the first branch for its
session; CI's testcontainers step (`tests/compose/testcontainers.sh`) runs this file with the
URLs unset, so the same session test then proves the second."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest

from tests.services import (
    HOW_TO_PROVIDE,
    POSTGRES_IMAGE,
    RABBITMQ_IMAGE,
    ServiceEndpoints,
    ServicesUnavailableError,
    provide_services,
)

URL_VARIABLES = ("TRAINBRIDGE_TEST_DATABASE_URL", "TRAINBRIDGE_TEST_AMQP_URL")
NO_ENGINE = "unix:///nonexistent/trainbridge-test/docker.sock"


def test_urls_in_the_environment_are_used_as_given_without_asking_docker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRAINBRIDGE_TEST_DATABASE_URL", "postgresql://u@db.example:5432/postgres")
    monkeypatch.setenv("TRAINBRIDGE_TEST_AMQP_URL", "amqp://u:p@mq.example:5672/")
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)

    with provide_services() as provided:
        assert provided.database_url == "postgresql://u@db.example:5432/postgres"
        assert provided.amqp_url == "amqp://u:p@mq.example:5672/"
        assert provided.broker_control is None
        assert "rabbitmqctl" in provided.broker_control_problem


def test_without_urls_or_a_docker_engine_the_failure_says_how_to_provide_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in URL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)

    with pytest.raises(ServicesUnavailableError) as failure, provide_services():
        pass

    assert HOW_TO_PROVIDE in str(failure.value)
    assert "testcontainers could not start them" in str(failure.value)


def _published(container: object, port: str) -> set[int]:
    ports = container.attrs["NetworkSettings"]["Ports"].get(port) or []  # type: ignore[attr-defined]
    return {int(binding["HostPort"]) for binding in ports}


def test_the_session_services_come_from_where_the_harness_promised(
    services: ServiceEndpoints,
) -> None:
    """Each service from its URL when one is set, else from a container of the pinned image
    that publishes the port in the URL the session got."""
    database, broker = urlsplit(services.database_url), urlsplit(services.amqp_url)
    given = {name: os.environ.get(name) for name in URL_VARIABLES}
    if given["TRAINBRIDGE_TEST_DATABASE_URL"]:
        assert services.database_url == given["TRAINBRIDGE_TEST_DATABASE_URL"]
    if given["TRAINBRIDGE_TEST_AMQP_URL"]:
        assert services.amqp_url == given["TRAINBRIDGE_TEST_AMQP_URL"]
    if all(given.values()):
        return

    import docker  # testcontainers' own client

    running = docker.from_env().containers.list()
    if not given["TRAINBRIDGE_TEST_DATABASE_URL"]:
        postgres = [c for c in running if POSTGRES_IMAGE in c.image.tags
                    and database.port in _published(c, "5432/tcp")]
        assert len(postgres) == 1, f"no {POSTGRES_IMAGE} container publishes {database.port}"
    if not given["TRAINBRIDGE_TEST_AMQP_URL"]:
        rabbitmq = [c for c in running if RABBITMQ_IMAGE in c.image.tags
                    and broker.port in _published(c, "5672/tcp")]
        assert len(rabbitmq) == 1, f"no {RABBITMQ_IMAGE} container publishes {broker.port}"
        assert services.broker_control is not None, "the broker container can be restarted"
