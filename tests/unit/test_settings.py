"""Settings come from the environment once; any of them may come from a file instead."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from eventlog.config import cgroup_cpu_quota, usable_cpus
from eventlog.redaction import known_secrets, mask, redact
from eventlog.settings import (
    BrokerSettings,
    DatabaseSettings,
    RelaySettings,
    SettingsError,
    asyncpg_dsn,
    log_level,
    read_setting,
    sqlalchemy_url,
)
from services.ingest.settings import IngestSettings
from services.reporter.settings import ReporterSettings
from services.trainer.settings import TrainerSettings


def test_defaults_point_at_local_services() -> None:
    assert DatabaseSettings.from_env({}).url == "postgresql://postgres@127.0.0.1:5432/trainbridge"
    broker = BrokerSettings.from_env({})
    assert broker.url == "amqp://guest:guest@127.0.0.1:5672/"
    assert broker.namespace == "trainbridge"
    assert RelaySettings.from_env({}) == RelaySettings()


def test_values_are_read_from_the_environment() -> None:
    broker = BrokerSettings.from_env(
        {"TRAINBRIDGE_AMQP_URL": "amqp://u:p@mq:5672/v", "TRAINBRIDGE_AMQP_PREFETCH": "4",
         "TRAINBRIDGE_AMQP_MAX_ATTEMPTS": "7", "TRAINBRIDGE_AMQP_NAMESPACE": "staging"}
    )
    assert (broker.url, broker.prefetch, broker.max_attempts, broker.namespace) == (
        "amqp://u:p@mq:5672/v", 4, 7, "staging"
    )
    relay = RelaySettings.from_env({"TRAINBRIDGE_RELAY_POLL_INTERVAL": "0.25",
                                    "TRAINBRIDGE_RELAY_PARALLEL_CLAIMS": "3"})
    assert (relay.poll_interval, relay.parallel_claims) == (0.25, 3)


def test_a_file_variant_supplies_a_secret(tmp_path: Path) -> None:
    secret = tmp_path / "db-url"
    secret.write_text("postgresql://app:s3cret@db/trainbridge\n")

    settings = DatabaseSettings.from_env({"TRAINBRIDGE_DATABASE_URL_FILE": str(secret)})

    assert settings.url == "postgresql://app:s3cret@db/trainbridge"


def test_setting_a_value_and_its_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not both"):
        read_setting({"X": "1", "X_FILE": str(tmp_path / "x")}, "X")


def test_an_unreadable_file_is_named_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="X_FILE: cannot read"):
        read_setting({"X_FILE": str(tmp_path / "missing")}, "X")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("TRAINBRIDGE_AMQP_PREFETCH", "lots", "must be a number"),
        ("TRAINBRIDGE_AMQP_PREFETCH", "0", "at least 1"),
        ("TRAINBRIDGE_AMQP_MAX_ATTEMPTS", "2.5", "whole number"),
    ],
)
def test_malformed_numbers_are_refused_with_the_variable_named(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=message) as raised:
        BrokerSettings.from_env({variable: value})
    assert variable in str(raised.value)


def test_an_empty_text_or_url_reads_as_unset_but_an_empty_number_is_refused() -> None:
    broker = BrokerSettings.from_env({"TRAINBRIDGE_AMQP_URL": "", "TRAINBRIDGE_AMQP_NAMESPACE": ""})
    assert (broker.url, broker.namespace) == (BrokerSettings().url, "trainbridge")
    assert log_level({"TRAINBRIDGE_LOG_LEVEL": ""}) == "INFO"
    with pytest.raises(SettingsError, match="TRAINBRIDGE_AMQP_PREFETCH must be a number, got ''"):
        BrokerSettings.from_env({"TRAINBRIDGE_AMQP_PREFETCH": ""})


@pytest.mark.parametrize("value", ["nan", "inf", "1e400"])
def test_a_whole_number_that_is_not_finite_is_refused_with_the_variable_named(
    value: str,
) -> None:
    with pytest.raises(SettingsError, match="TRAINBRIDGE_RELAY_BATCH_SIZE must be a whole number"):
        RelaySettings.from_env({"TRAINBRIDGE_RELAY_BATCH_SIZE": value})


def test_the_log_level_is_read_in_any_case_and_from_a_file_too(tmp_path: Path) -> None:
    level = tmp_path / "level"
    level.write_text("debug\n")
    assert log_level({"TRAINBRIDGE_LOG_LEVEL": "warning"}) == "WARNING"
    assert log_level({"TRAINBRIDGE_LOG_LEVEL_FILE": str(level)}) == "DEBUG"


def test_a_deadline_per_model_type_is_read_from_its_variable_or_its_file(
    tmp_path: Path,
) -> None:
    ner = tmp_path / "ner-deadline"
    ner.write_text("120\n")
    trainer = TrainerSettings.from_env({
        "TRAINBRIDGE_ARTIFACTS_URL": "memory://artifacts", "TRAINBRIDGE_DEADLINE_SECONDS": "600",
        "TRAINBRIDGE_DEADLINE_SECONDS_TEXT_SINGLE_CLASSIFICATION": "30",
        "TRAINBRIDGE_DEADLINE_SECONDS_NER_FILE": str(ner),
    })
    assert trainer.deadlines == {"text_single_classification": 30.0, "ner": 120.0}
    assert trainer.deadline_for("bounding_box") == 600.0
    with pytest.raises(SettingsError, match="TRAINBRIDGE_DEADLINE_SECONDS_NER must be at least"):
        TrainerSettings.from_env({"TRAINBRIDGE_DEADLINE_SECONDS_NER": "0"})


def test_no_memory_limit_unless_one_is_set() -> None:
    assert TrainerSettings.from_env({}).memory_limit_bytes is None
    limited = TrainerSettings.from_env({"TRAINBRIDGE_TRAINING_MEMORY_LIMIT_BYTES": "1e9"})
    assert limited.memory_limit_bytes == 1_000_000_000


def test_a_trainer_trains_as_many_jobs_at_once_as_it_may_use_cpus_unless_told() -> None:
    assert TrainerSettings.from_env({}).concurrency == usable_cpus()
    assert TrainerSettings.from_env({"TRAINBRIDGE_TRAINER_CONCURRENCY": "6"}).concurrency == 6
    for wrong, why in (("0", "must be at least 1"), ("1.5", "must be a whole number"),
                       ("many", "must be a number")):
        with pytest.raises(SettingsError, match=f"TRAINBRIDGE_TRAINER_CONCURRENCY {why}"):
            TrainerSettings.from_env({"TRAINBRIDGE_TRAINER_CONCURRENCY": wrong})


def test_the_cpus_a_process_may_use_are_lowered_to_its_cgroup_quota(tmp_path: Path) -> None:
    cpu_max = tmp_path / "cpu.max"
    affinity = len(os.sched_getaffinity(0))
    for content, quota in (("150000 100000\n", 2), ("50000 100000\n", 1), ("max 100000\n", None),
                           ("garbage\n", None)):
        cpu_max.write_text(content)
        assert cgroup_cpu_quota(str(cpu_max)) == quota
        assert usable_cpus(str(cpu_max)) == (affinity if quota is None else min(affinity, quota))
    assert cgroup_cpu_quota(str(tmp_path / "absent")) is None


def test_a_blank_api_key_is_missing_and_the_error_says_why_it_is_needed() -> None:
    with pytest.raises(SettingsError) as raised:
        ReporterSettings.from_env({"LABELBOX_API_KEY": ""})
    assert str(raised.value) == ("LABELBOX_API_KEY (or LABELBOX_API_KEY_FILE) is required: the "
                                 "reporter is the only component that calls Labelbox")


def test_urls_are_spelled_for_each_driver_and_redacted_for_logs() -> None:
    url = "postgresql://app:s3cret@db:5432/trainbridge"
    assert sqlalchemy_url(url) == "postgresql+asyncpg://app:s3cret@db:5432/trainbridge"
    assert asyncpg_dsn(sqlalchemy_url(url)) == url
    assert redact(url) == "postgresql://app:***@db:5432/trainbridge"
    assert redact("amqp://guest@mq/") == "amqp://guest@mq/"
    with pytest.raises(SettingsError, match="not a PostgreSQL URL"):
        sqlalchemy_url("mysql://x:y@db/z")


def test_the_reporters_two_lanes_are_sized_separately() -> None:
    environ = {"LABELBOX_API_KEY": "key", "TRAINBRIDGE_REPORTER_CONCURRENCY": "12",
               "TRAINBRIDGE_REPORTER_ACKNOWLEDGE_CONCURRENCY": "3"}
    settings = ReporterSettings.from_env(environ)
    assert (settings.concurrency, settings.acknowledge_concurrency) == (12, 3)
    assert ReporterSettings.from_env({"LABELBOX_API_KEY": "key"}).acknowledge_concurrency == 4
    with pytest.raises(SettingsError, match="TRAINBRIDGE_REPORTER_ACKNOWLEDGE_CONCURRENCY"):
        ReporterSettings.from_env({**environ, "TRAINBRIDGE_REPORTER_ACKNOWLEDGE_CONCURRENCY": "0"})


@pytest.mark.parametrize(
    ("value", "shown", "problem"),
    [
        ("not-a-url", "not-a-url", "expected a postgresql:// or postgres://"),
        ("mysql://app:s3cret@db/trainbridge", "mysql://app:***@db/trainbridge",
         "expected a postgresql://"),
        ("postgresql://app:s3cret@db:five/trainbridge", "postgresql://app:***@db:five/trainbridge",
         "not a valid URL (Port could not be cast to integer value as 'five')"),
        ("postgresql://app@db:99999/trainbridge", "postgresql://app@db:99999/trainbridge",
         "not a valid URL (Port out of range 0-65535)"),
    ],
)
def test_a_malformed_database_url_is_refused_naming_the_setting_and_the_redacted_value(
    value: str, shown: str, problem: str,
) -> None:
    with pytest.raises(SettingsError) as raised:
        DatabaseSettings.from_env({"TRAINBRIDGE_DATABASE_URL": value})

    assert str(raised.value).startswith(f"TRAINBRIDGE_DATABASE_URL={shown}: {problem}")
    assert "s3cret" not in str(raised.value)


def test_a_malformed_broker_url_is_refused_naming_the_setting() -> None:
    with pytest.raises(SettingsError, match=r"^TRAINBRIDGE_AMQP_URL=http://u:\*\*\*@mq/: "
                                            r"expected a amqp:// or amqps:// URL"):
        BrokerSettings.from_env({"TRAINBRIDGE_AMQP_URL": "http://u:pw@mq/"})


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("postgresql://app:s3cret@db/tb", "postgresql://app:***@db/tb"),
        ("postgresql://app@db/tb?password=s3cret", "postgresql://app@db/tb?password=***"),
        ("postgresql://app@db/tb?sslmode=require&PASSWORD=s3cret&x=1",
         "postgresql://app@db/tb?sslmode=require&PASSWORD=***&x=1"),
        ("postgresql://db/tb?sslpassword=s3cret", "postgresql://db/tb?sslpassword=***"),
        ("amqp://:s3cret@mq/", "amqp://:***@mq/"),
        ("cannot reach postgresql://a:s3cret@db/x (and amqp://b:s3cret@mq/)",
         "cannot reach postgresql://a:***@db/x (and amqp://b:***@mq/)"),
        ("amqp://guest@mq/", "amqp://guest@mq/"),
        ("delivery_key=attempt-1/status", "delivery_key=attempt-1/status"),
    ],
)
def test_one_redaction_masks_every_form_a_url_carries_a_password_in(
    text: str, redacted: str,
) -> None:
    assert redact(text) == redacted


def test_known_secrets_are_masked_wherever_they_appear(tmp_path: Path) -> None:
    webhook_file = tmp_path / "webhook"
    webhook_file.write_text("whsec-from-file\n")
    environ = {
        "TRAINBRIDGE_DATABASE_URL": "postgresql://app:p%40ss-word@db/tb",
        "TRAINBRIDGE_WEBHOOK_SECRET_FILE": str(webhook_file),
        "LABELBOX_API_KEY": "lb-key-123",
        "TRAINBRIDGE_INGEST_DATABASE_PASSWORD": "ingest-pw",
        "TRAINBRIDGE_LOG_LEVEL": "INFO",
    }
    secrets = known_secrets(environ)

    echoed = ("password authentication failed (p@ss-word), key lb-key-123, secret "
              "whsec-from-file, role pw ingest-pw, level INFO")
    assert mask(echoed, secrets) == ("password authentication failed (***), key ***, "
                                     "secret ***, role pw ***, level INFO")


@pytest.mark.parametrize(("name", "read"), [
    ("TRAINBRIDGE_TRAINER_METRICS_PORT", TrainerSettings.from_env),
    ("TRAINBRIDGE_REPORTER_METRICS_PORT", ReporterSettings.from_env),
    ("TRAINBRIDGE_INGEST_METRICS_PORT", IngestSettings.from_env),
])
def test_a_port_beyond_65535_is_refused_with_the_variable_named(
    name: str, read: Callable[[Mapping[str, str]], object],
) -> None:
    environ = {name: "70000", "LABELBOX_API_KEY": "k", "TRAINBRIDGE_WEBHOOK_SECRET": "s"}

    with pytest.raises(SettingsError, match=f"{name} must be at most 65535, got '70000'"):
        read(environ)
