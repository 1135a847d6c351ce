"""``docker compose up`` for the whole system, checked without Docker: docker-compose.yml is a
valid Compose file (against the Compose Specification's JSON schema vendored next to this
file, from the docker-compose 1.29.2 wheel on PyPI: see README.md here), and what it says
agrees with the code — subcommands, ports, environment variables (against the settings the
code declares), images, the demo."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from eventlog.settings import SettingsError
from fake_labelbox import demo_client
from services.ingest.settings import IngestSettings
from services.reporter.settings import DEFAULT_ENDPOINT, ReporterSettings
from services.trainer.settings import TrainerSettings
from tests.deploy.files import (
    ROOT,
    MissingVariableError,
    built_by_us,
    container_ports,
    environment,
    in_build_context,
    interpolate,
    load_compose,
    parse_dockerfile,
    read_env_file,
    referenced_variables,
    services,
    stage_args,
)
from tests.services import POSTGRES_IMAGE, RABBITMQ_IMAGE
from trainbridge.cli import build_parser
from trainbridge.configuration import OPERATOR_COMMANDS, declared, read_by

SCHEMA_FILE = Path(__file__).with_name("compose_spec.json")
SCHEMA_SHA256 = "0dc04bd346dcfee1b1419628fff79937bbf076925f298f272a2b490e2b112bac"

COMPOSE = load_compose()
ENV_EXAMPLE = read_env_file()
BUILD_VARIABLES = referenced_variables(
    [s["build"] for s in services(COMPOSE).values() if built_by_us(s)])
"""Read by Compose itself, for the images it builds (e.g. the base image), not by the code."""
RESOLVED = interpolate(COMPOSE, ENV_EXAMPLE)
SERVICES = services(RESOLVED)

LONG_RUNNING = {"postgres", "rabbitmq", "ingest", "trainer", "reporter", "fake-labelbox",
                "prometheus", "grafana"}
ONE_SHOT = {"migrate", "demo-client", "operator"}
DEMO = {"fake-labelbox", "demo-client"}
TOOLS = {"operator"}
"""Run on demand (`docker compose run --rm operator ...`), under the `tools` profile."""
THIRD_PARTY_IMAGES = {"postgres": POSTGRES_IMAGE, "rabbitmq": RABBITMQ_IMAGE}
OBSERVABILITY = {"prometheus", "grafana"}
"""Started only with `--profile observability`, provisioned from deploy/observability."""
OBSERVABILITY_IMAGES = {"prometheus": re.compile(r"^prom/prometheus:v2\.53\.\d+$"),
                        "grafana": re.compile(r"^grafana/grafana:11\.\d+\.\d+$")}
ARTIFACTS_USERS = {"trainer", "reporter"}
COMMANDS = {"migrate": "migrate", "ingest": "ingest", "trainer": "trainer", "reporter": "reporter",
            "operator": OPERATOR_COMMANDS}
"""The trainbridge command each service runs that reads settings (trainbridge.configuration)."""
SETTINGS = {setting.name: setting for setting in declared()}


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    return loaded


def schema_errors(document: Any) -> list[str]:
    validator = jsonschema.Draft201909Validator(schema())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(document)]


# -- the file itself -------------------------------------------------------------------------


def test_the_vendored_schema_is_the_one_docker_compose_1_29_2_ships() -> None:
    assert hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest() == SCHEMA_SHA256


def test_the_compose_file_is_valid_against_the_compose_specification() -> None:
    assert schema_errors(RESOLVED) == []
    assert schema_errors(COMPOSE) == []  # before interpolation too: no value changes type


def test_the_schema_rejects_what_compose_would_reject() -> None:
    broken = copy.deepcopy(RESOLVED)
    broken["services"]["ingest"]["depends_on"]["migrate"]["condition"] = "service_done"
    broken["services"]["trainer"]["restart_policy"] = "always"
    errors = schema_errors(broken)
    assert any("service_done" in e for e in errors), errors
    assert any("restart_policy" in e for e in errors), errors


def test_every_duration_is_one_compose_understands() -> None:
    duration = re.compile(r"^(\d+(\.\d+)?(us|ms|s|m|h))+$")
    for name, service in SERVICES.items():
        checks = service.get("healthcheck", {})
        values = [checks.get(k) for k in ("interval", "timeout", "start_period")]
        values.append(service.get("stop_grace_period"))
        for value in filter(None, values):
            assert duration.match(value), f"{name}: {value!r} is not a Compose duration"


def test_every_python_healthcheck_is_valid_python_using_only_the_standard_library() -> None:
    for name, service in SERVICES.items():
        test = service.get("healthcheck", {}).get("test", [])
        if test[:2] == ["CMD", "python"]:
            assert test[2] == "-c", name
            compile(test[3], f"<{name} healthcheck>", "exec")
            assert "urllib.request" in test[3] and "curl" not in test[3], name


# -- commands and ports agree with the code ----------------------------------------------------


def test_every_command_is_a_real_trainbridge_subcommand() -> None:
    parser = build_parser()
    checked = set()
    for name, service in SERVICES.items():
        if not built_by_us(service) or "entrypoint" in service:
            continue
        command = service["command"]
        args = parser.parse_args(command)
        assert args.command == command[0], name
        checked.add(name)
    assert checked == {"migrate", "ingest", "trainer", "reporter", "fake-labelbox", "operator"}


def test_the_demo_client_runs_the_demo_client_module_with_options_it_knows() -> None:
    service = SERVICES["demo-client"]
    assert service["entrypoint"] == ["python", "-m", demo_client.__name__]
    args = demo_client.build_parser().parse_args(service["command"])
    assert args.ingest == "http://ingest:8000"
    assert args.fake == "http://fake-labelbox:8081"
    assert args.model_type == "text_single_classification"
    assert args.secret is None  # from TRAINBRIDGE_WEBHOOK_SECRET, never on a command line


def test_published_ports_are_the_ports_the_code_listens_on() -> None:
    parser = build_parser()
    ingest = parser.parse_args(SERVICES["ingest"]["command"])
    fake = parser.parse_args(SERVICES["fake-labelbox"]["command"])
    ingest_default = parser.parse_args(["ingest"]).port
    fake_default = parser.parse_args(["fake-labelbox"]).port
    metrics_default = next(f.default for f in fields(ReporterSettings) if f.name == "metrics_port")
    ingest_settings_default = next(f.default for f in fields(IngestSettings) if f.name == "port")

    ingest_metrics_default = next(f.default for f in fields(IngestSettings)
                                  if f.name == "metrics_port")

    assert ingest_default == ingest_settings_default == ingest.port == 8000
    assert ingest.metrics_port is None  # the setting's default
    assert ingest_metrics_default == 9100
    assert container_ports(SERVICES["ingest"]) == [8000, 9100]
    assert "TRAINBRIDGE_INGEST_METRICS_PORT" not in environment(SERVICES["ingest"])
    assert metrics_default == 9102
    assert container_ports(SERVICES["reporter"]) == [9102]
    assert "TRAINBRIDGE_REPORTER_METRICS_PORT" not in environment(SERVICES["reporter"])
    health_default = next(f.default for f in fields(TrainerSettings) if f.name == "metrics_port")
    assert health_default == 9101
    assert container_ports(SERVICES["trainer"]) == []  # probed inside; replicas share no port
    assert "TRAINBRIDGE_TRAINER_METRICS_PORT" not in environment(SERVICES["trainer"])
    assert fake_default == fake.port == 8081
    assert container_ports(SERVICES["fake-labelbox"]) == [8081]


def test_metrics_ports_are_published_on_the_hosts_loopback_only() -> None:
    published = {name: [str(p) for p in SERVICES[name].get("ports", [])]
                 for name in ("ingest", "reporter")}

    assert "127.0.0.1:9100:9100" in published["ingest"]
    assert "127.0.0.1:9102:9102" in published["reporter"]
    assert [p for p in published["ingest"] if p.endswith(":9100")] == ["127.0.0.1:9100:9100"]


def test_servers_listen_on_every_interface_inside_their_containers() -> None:
    parser = build_parser()
    assert parser.parse_args(SERVICES["ingest"]["command"]).host == "0.0.0.0"
    assert parser.parse_args(SERVICES["fake-labelbox"]["command"]).host == "0.0.0.0"
    metrics_host = next(f.default for f in fields(ReporterSettings) if f.name == "metrics_host")
    assert metrics_host == "0.0.0.0"


def test_healthchecks_probe_the_ports_and_paths_the_services_serve() -> None:
    def probe(name: str) -> str:
        return " ".join(SERVICES[name]["healthcheck"]["test"])

    assert "http://127.0.0.1:8000/healthz" in probe("ingest")
    assert "http://127.0.0.1:9102/metrics" in probe("reporter")
    assert "http://127.0.0.1:9101/healthz" in probe("trainer")
    assert "http://127.0.0.1:8081/_fake/health" in probe("fake-labelbox")
    assert "pg_isready" in probe("postgres")
    assert "rabbitmq-diagnostics" in probe("rabbitmq")


# -- environment variables -------------------------------------------------------------------


def test_every_variable_compose_names_is_a_declared_setting_or_read_by_its_image() -> None:
    for name, service in services(COMPOSE).items():
        if built_by_us(service):
            for variable in environment(service):
                assert variable in SETTINGS, (
                    f"{name} is given {variable}, which the code does not declare")
    image_environments = " ".join(
        " ".join(environment(s).values()) for s in services(COMPOSE).values()
        if not built_by_us(s))
    for variable in (referenced_variables(COMPOSE) | set(ENV_EXAMPLE)) - BUILD_VARIABLES:
        assert variable in SETTINGS or (
            variable in referenced_variables(image_environments)), (
            f"{variable} is neither a declared setting nor handed to postgres or rabbitmq")


def test_each_service_is_given_only_settings_its_command_reads() -> None:
    for name, command in COMMANDS.items():
        read = {setting.name for setting in read_by(command)}
        assert set(environment(SERVICES[name])) <= read, name


def test_compose_defaults_are_the_code_defaults_but_for_the_shared_artifacts_volume() -> None:
    defaults = {m["name"]: m["arg"] for m in re.finditer(
        r"\$\{(?P<name>\w+):-(?P<arg>[^}]*)\}", json.dumps(COMPOSE))}
    assert "TRAINBRIDGE_ARTIFACTS_URL" in defaults and "TRAINBRIDGE_LOG_LEVEL" in defaults
    for variable, default in defaults.items():
        setting = SETTINGS.get(variable)
        if setting is None or variable == "TRAINBRIDGE_ARTIFACTS_URL":
            continue  # the build's variables; the artifacts live in a volume, not ./artifacts
        assert setting.read({variable: default}) == setting.read({}), variable


def test_every_value_env_example_gives_a_setting_is_one_the_code_accepts() -> None:
    given = {name: value for name, value in ENV_EXAMPLE.items() if name in SETTINGS}
    assert "TRAINBRIDGE_DEADLINE_SECONDS" in given and "LABELBOX_API_KEY" in given
    refused = {}
    for name, value in given.items():
        try:
            SETTINGS[name].read({name: value})
        except SettingsError as exc:
            refused[name] = str(exc)
    assert refused == {}


def test_env_example_documents_every_variable_compose_reads_and_no_other() -> None:
    """The build's variables have defaults and are documented commented out (`# NAME=`)."""
    text = (ROOT / ".env.example").read_text()
    assert set(re.findall(r"^# ?([A-Z][A-Z0-9_]*)=", text, re.M)) >= BUILD_VARIABLES
    assert set(ENV_EXAMPLE) | BUILD_VARIABLES == referenced_variables(COMPOSE)


def test_every_build_variable_is_a_build_argument_of_the_dockerfile() -> None:
    dockerfile = parse_dockerfile()
    arguments = set(dockerfile.global_args).union(
        *(stage_args(stage) for stage in dockerfile.stages))
    for service in services(COMPOSE).values():
        if built_by_us(service):
            assert set(service["build"]["args"]) <= arguments


def test_env_example_gives_every_required_variable_a_value() -> None:
    required = {m.group(1) for m in re.finditer(r"\$\{(\w+):\?", json.dumps(COMPOSE))}
    assert required >= {"TRAINBRIDGE_WEBHOOK_SECRET", "LABELBOX_API_KEY", "POSTGRES_PASSWORD",
                        "RABBITMQ_PASSWORD"}
    assert all(ENV_EXAMPLE[name] for name in required)


def test_compose_refuses_to_start_without_the_webhook_secret() -> None:
    without = {k: v for k, v in ENV_EXAMPLE.items() if k != "TRAINBRIDGE_WEBHOOK_SECRET"}
    with pytest.raises(MissingVariableError) as raised:
        interpolate(COMPOSE, without)
    assert raised.value.name == "TRAINBRIDGE_WEBHOOK_SECRET"
    with pytest.raises(MissingVariableError):
        interpolate(COMPOSE, {**ENV_EXAMPLE, "LABELBOX_API_KEY": ""})


def test_passwords_in_env_example_are_safe_inside_the_service_urls() -> None:
    for name in ("POSTGRES_PASSWORD", "RABBITMQ_PASSWORD"):
        assert re.fullmatch(r"[A-Za-z0-9._~-]+", ENV_EXAMPLE[name]), name
    assert environment(SERVICES["migrate"])["TRAINBRIDGE_DATABASE_URL"] == (
        f"postgresql://trainbridge:{ENV_EXAMPLE['POSTGRES_PASSWORD']}@postgres:5432/trainbridge")
    for service in ("ingest", "trainer", "reporter"):
        setting = f"TRAINBRIDGE_{service.upper()}_DATABASE_PASSWORD"
        assert re.fullmatch(r"[A-Za-z0-9._~-]+", ENV_EXAMPLE[setting]), setting
        env = environment(SERVICES[service])
        assert env["TRAINBRIDGE_DATABASE_URL"] == (  # its own least-privileged role
            f"postgresql://trainbridge_{service}:{ENV_EXAMPLE[setting]}@postgres:5432/"
            "trainbridge")
        assert env["TRAINBRIDGE_AMQP_URL"] == (
            f"amqp://trainbridge:{ENV_EXAMPLE['RABBITMQ_PASSWORD']}@rabbitmq:5672/")
        # only migrate (which sets it) and the service itself know a role's password
        holders = {name for name, s in SERVICES.items()
                   if ENV_EXAMPLE[setting] in str(environment(s))}
        assert holders == {"migrate", service}, (setting, holders)
    postgres, rabbitmq = environment(SERVICES["postgres"]), environment(SERVICES["rabbitmq"])
    assert (postgres["POSTGRES_USER"], postgres["POSTGRES_DB"]) == ("trainbridge", "trainbridge")
    assert rabbitmq["RABBITMQ_DEFAULT_USER"] == "trainbridge"


def required_settings() -> dict[str, set[str]]:
    """``{service: {variable}}``: the settings without which a service's command stops."""
    return {name: {s.name for s in read_by(command) if s.required}
            for name, command in COMMANDS.items()}


def test_every_setting_a_service_requires_reaches_it() -> None:
    required = required_settings()
    assert required["ingest"] >= {"TRAINBRIDGE_WEBHOOK_SECRET"}
    assert required["reporter"] >= {"LABELBOX_API_KEY"}
    for service, variables in required.items():
        for variable in variables:
            assert environment(SERVICES[service]).get(variable), (service, variable)


def test_secrets_reach_only_the_services_that_use_them() -> None:
    holders = {
        variable: {name for name, s in services(COMPOSE).items() if variable in environment(s)}
        for variable in ("LABELBOX_API_KEY", "TRAINBRIDGE_WEBHOOK_SECRET")
    }
    assert holders["LABELBOX_API_KEY"] == {"reporter"}
    assert holders["TRAINBRIDGE_WEBHOOK_SECRET"] == {"ingest", "demo-client"}
    # an env_file would hand all of .env (the API key included) to every container
    assert not any("env_file" in s for s in SERVICES.values())


def test_every_trainbridge_service_reaches_the_database_and_the_broker_on_the_network() -> None:
    for name in ("migrate", "ingest", "trainer", "reporter"):
        assert "@postgres:5432/" in environment(SERVICES[name])["TRAINBRIDGE_DATABASE_URL"]
    for name in ("ingest", "trainer", "reporter"):
        assert "@rabbitmq:5672/" in environment(SERVICES[name])["TRAINBRIDGE_AMQP_URL"]


# -- volumes, restarts, start order ----------------------------------------------------------


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """``{volume: path in the container}``."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        found[source] = target
    return found


def test_state_lives_in_named_volumes() -> None:
    assert set(RESOLVED["volumes"]) == {"pgdata", "rabbitmq-data", "artifacts",
                                        "prometheus-data", "grafana-data"}
    assert mounts(SERVICES["postgres"]) == {"pgdata": "/var/lib/postgresql/data"}
    assert mounts(SERVICES["rabbitmq"]) == {"rabbitmq-data": "/var/lib/rabbitmq"}
    assert SERVICES["rabbitmq"]["hostname"] == "rabbitmq"  # the node name names its data dir


def test_trainer_and_reporter_share_the_artifacts_volume_at_the_artifacts_url() -> None:
    for name in ARTIFACTS_USERS:
        service = SERVICES[name]
        path = mounts(service)["artifacts"]
        assert environment(service)["TRAINBRIDGE_ARTIFACTS_URL"] == f"file://{path}"
    assert len({mounts(SERVICES[n])["artifacts"] for n in ARTIFACTS_USERS}) == 1
    assert not any("artifacts" in mounts(s) for n, s in SERVICES.items()
                   if n not in ARTIFACTS_USERS)


def test_long_running_services_restart_unless_stopped_and_one_shots_never() -> None:
    assert set(SERVICES) == LONG_RUNNING | ONE_SHOT
    for name in LONG_RUNNING:
        assert SERVICES[name]["restart"] == "unless-stopped", name
    for name in ONE_SHOT:
        assert SERVICES[name].get("restart", "no") == "no", name


def test_services_start_after_healthy_infrastructure_and_completed_migrations() -> None:
    for name in ("ingest", "trainer", "reporter"):
        assert SERVICES[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "rabbitmq": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }, name
    assert SERVICES["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert SERVICES["migrate"]["command"] == ["migrate"]


def test_the_operator_tool_does_not_rerun_migrate_at_each_command() -> None:
    # `docker compose run` starts the dependencies first: migrate among them would run again.
    assert SERVICES["operator"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}


def test_every_dependency_condition_can_be_met() -> None:
    for name, service in SERVICES.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in SERVICES, (name, target)
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[target], (name, target)
            if rule["condition"] == "service_completed_successfully":
                assert target in ONE_SHOT, (name, target)
            # a service always started may not wait for one that only the demo starts
            if not set(service.get("profiles", [])):
                assert not SERVICES[target].get("profiles"), (name, target)


def test_the_infrastructure_images_are_the_pinned_ones_the_tests_use() -> None:
    for name, image in THIRD_PARTY_IMAGES.items():
        assert SERVICES[name]["image"] == image
    assert {n for n, s in SERVICES.items() if not built_by_us(s)} == (
        set(THIRD_PARTY_IMAGES) | OBSERVABILITY)


# -- the demo profile ------------------------------------------------------------------------


def test_the_demo_profile_adds_the_fake_labelbox_and_its_client_only() -> None:
    in_demo = {n for n, s in SERVICES.items() if "demo" in s.get("profiles", [])}
    assert in_demo == DEMO
    assert {n for n, s in SERVICES.items() if "tools" in s.get("profiles", [])} == TOOLS
    assert all(not SERVICES[n].get("profiles")
               for n in set(SERVICES) - DEMO - TOOLS - OBSERVABILITY)
    args = build_parser().parse_args(SERVICES["fake-labelbox"]["command"])
    assert args.auto_create and args.api_key is None


def test_without_the_demo_the_reporter_talks_to_labelbox_itself() -> None:
    without_override = {k: v for k, v in ENV_EXAMPLE.items()
                        if k != "TRAINBRIDGE_LABELBOX_ENDPOINT"}
    production = services(interpolate(COMPOSE, without_override))
    assert environment(production["reporter"])["TRAINBRIDGE_LABELBOX_ENDPOINT"] == DEFAULT_ENDPOINT


def test_env_example_points_the_reporter_at_the_demos_fake_labelbox() -> None:
    fake = build_parser().parse_args(SERVICES["fake-labelbox"]["command"])
    endpoint = environment(SERVICES["reporter"])["TRAINBRIDGE_LABELBOX_ENDPOINT"]
    assert endpoint == f"http://fake-labelbox:{fake.port}/graphql"


def test_the_demo_client_waits_for_a_healthy_ingest_and_fake() -> None:
    depends = SERVICES["demo-client"]["depends_on"]
    assert depends["ingest"] == {"condition": "service_healthy"}
    assert depends["fake-labelbox"] == {"condition": "service_healthy"}
    assert depends["trainer"]["condition"] in {"service_started", "service_healthy"}
    assert SERVICES["demo-client"]["build"] == SERVICES["fake-labelbox"]["build"]


def test_env_is_never_committed_nor_sent_to_the_builder() -> None:
    ignored = [line.strip() for line in (ROOT / ".gitignore").read_text().splitlines()]
    assert ".env" in ignored
    assert (ROOT / ".env.example").is_file()
    assert not in_build_context(".env") and not in_build_context(".env.example")


# -- the observability profile ---------------------------------------------------------------


def bind_mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """``{path in the repository: (path in the container, mode)}`` of the ``./`` mounts."""
    found = {}
    for volume in service.get("volumes", []):
        source, target, *mode = str(volume).split(":")
        if source.startswith("./"):
            found[source.removeprefix("./")] = (target, mode[0] if mode else "rw")
    return found


def test_prometheus_and_grafana_start_only_with_the_observability_profile() -> None:
    in_profile = {n for n, s in SERVICES.items() if "observability" in s.get("profiles", [])}

    assert in_profile == OBSERVABILITY
    assert all(SERVICES[n]["profiles"] == ["observability"] for n in OBSERVABILITY)
    for name, service in SERVICES.items():  # nothing else waits for them
        if name not in OBSERVABILITY:
            assert not OBSERVABILITY & set(service.get("depends_on") or {}), name


def test_the_observability_images_are_pinned_releases() -> None:
    for name, pattern in OBSERVABILITY_IMAGES.items():
        assert pattern.match(SERVICES[name]["image"]), SERVICES[name]["image"]


def test_prometheus_and_grafana_are_provisioned_read_only_from_files_that_exist() -> None:
    prometheus = bind_mounts(SERVICES["prometheus"])
    grafana = bind_mounts(SERVICES["grafana"])

    assert prometheus == {
        "deploy/observability/prometheus.yml": ("/etc/prometheus/prometheus.yml", "ro"),
        "deploy/observability/alerts.yml": ("/etc/prometheus/alerts.yml", "ro")}
    assert grafana == {
        "deploy/observability/grafana/provisioning": ("/etc/grafana/provisioning", "ro"),
        "deploy/observability/grafana/dashboards": ("/etc/grafana/dashboards", "ro")}
    for source in (*prometheus, *grafana):
        assert (ROOT / source).exists(), source
    assert (ROOT / "deploy/observability/grafana/provisioning/datasources").is_dir()
    assert "--config.file=/etc/prometheus/prometheus.yml" in SERVICES["prometheus"]["command"]
    home = environment(SERVICES["grafana"])["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (ROOT / "deploy/observability/grafana/dashboards" / Path(home).name).is_file()
    assert home.startswith("/etc/grafana/dashboards/")


def test_grafana_and_prometheus_listen_on_the_hosts_loopback_only() -> None:
    assert SERVICES["prometheus"]["ports"] == ["127.0.0.1:9090:9090"]
    assert SERVICES["grafana"]["ports"] == ["127.0.0.1:3000:3000"]
    grafana = environment(SERVICES["grafana"])
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert grafana["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"  # viewers, never editors
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"] == ENV_EXAMPLE["GRAFANA_ADMIN_PASSWORD"]
