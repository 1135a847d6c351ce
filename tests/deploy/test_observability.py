"""deploy/observability, checked without running Prometheus or Grafana: the alert rules pass
their promtool unit tests, each alert says how bad it is and where its runbook is, the
dashboard is Grafana dashboard JSON on the provisioned datasource, Prometheus scrapes each
service where it serves its metrics, and every expression reads only catalogued metrics
(tests/e2e/test_metrics.py checks the same names against a real scrape)."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import fields
from pathlib import Path

import pytest

from services.ingest.settings import IngestSettings
from services.reporter.settings import ReporterSettings
from services.trainer.settings import TrainerSettings
from tests.deploy.files import ROOT
from tests.deploy.observability import (
    ALERTS,
    ALERTS_TEST,
    DASHBOARD_PROVIDERS,
    DATASOURCES,
    PROMETHEUS_CONFIG,
    PROMETHEUS_SERIES,
    Selector,
    alert_rules,
    catalogued,
    dashboard_files,
    expressions,
    load_dashboard,
    load_yaml,
    owners,
    panels,
    selectors,
)
from trainbridge.metric_names import BY_SERVICE

SEVERITIES = {"critical", "warning", "info"}
PANEL_TYPES = {"row", "timeseries", "stat", "gauge", "bargauge", "table", "text", "heatmap"}
METRICS_PORTS = {"ingest": IngestSettings, "trainer": TrainerSettings,
                 "reporter": ReporterSettings}


def default_metrics_port(settings: type) -> int:
    port: int = next(f.default for f in fields(settings) if f.name == "metrics_port")
    return port


# -- reading PromQL ----------------------------------------------------------------------------


def test_selectors_are_the_metric_names_not_functions_labels_or_keywords() -> None:
    expression = ('histogram_quantile(0.95, sum by (le, model_type) '
                  '(rate(trainbridge_trainer_stage_duration_seconds_bucket[$__rate_interval])))')

    assert selectors(expression) == [Selector("trainbridge_trainer_stage_duration_seconds_bucket")]


def test_selectors_see_both_sides_of_binary_operators_and_set_operations() -> None:
    expression = ('(min by (instance) (min_over_time(a_running[90m])) > 0) and on (instance) '
                  '(time() - b_start_seconds{job="trainer"} offset 1h > 5400) '
                  'unless on (instance) sum without (stage) (increase(c_total[1e3s])) > 0.5')

    assert selectors(expression) == [
        Selector("a_running"), Selector("b_start_seconds", frozenset({"trainer"})),
        Selector("c_total")]


def test_label_values_and_string_arguments_are_not_metric_names() -> None:
    expression = ('label_replace(up{job=~"ingest|reporter", route!="GET /x"}, "service", '
                  '"$1 rate", "job", "(.*)") / ignoring (service) group_left '
                  'sum(x_total{outcome!="ok"})')

    assert selectors(expression) == [
        Selector("up", frozenset({"ingest", "reporter"})), Selector("x_total")]


def test_a_histograms_series_are_catalogued_under_the_histogram() -> None:
    catalogue = {"h_seconds", "c_total"}

    assert catalogued("h_seconds_bucket", catalogue) == "h_seconds"
    assert catalogued("h_seconds_count", catalogue) == "h_seconds"
    assert catalogued("c_total", catalogue) == "c_total"
    assert catalogued("c_total_count", catalogue) is None
    assert catalogued("c", catalogue) is None


def test_a_selector_is_owned_by_the_jobs_it_names_else_by_every_service_listing_it() -> None:
    by_service = {"ingest": ("shared_total",), "trainer": ("shared_total", "t_seconds")}

    assert owners(Selector("shared_total"), by_service) == {"ingest", "trainer"}
    assert owners(Selector("shared_total", frozenset({"trainer"})), by_service) == {"trainer"}
    assert owners(Selector("t_seconds_sum"), by_service) == {"trainer"}
    assert owners(Selector("nowhere_total"), by_service) == set()


def test_every_expression_reads_only_metrics_the_catalogue_lists_for_its_service() -> None:
    unknown = {}
    for where, expression in expressions().items():
        for selector in selectors(expression):
            if selector.name in PROMETHEUS_SERIES:
                continue
            services = owners(selector, BY_SERVICE)
            listed = {s for s in services
                      if catalogued(selector.name, set(BY_SERVICE[s])) is not None}
            if not services or listed != services:
                unknown[where] = selector
    assert unknown == {}
    assert len(expressions()) >= len(alert_rules()) + 20  # the dashboard's targets are read


# -- alert rules -------------------------------------------------------------------------------


def github_anchors(markdown: Path) -> set[str]:
    """The anchors GitHub gives the headings of ``markdown``."""
    anchors = set()
    for line in markdown.read_text().splitlines():
        heading = re.match(r"^#{1,6}\s+(.*)$", line)
        if heading:
            text = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


def test_every_alert_has_a_severity_a_summary_a_description_and_a_runbook_section() -> None:
    anchors = github_anchors(ROOT / "docs" / "operations.md")
    rules = alert_rules()
    assert {r["alert"] for r in rules} >= {
        "TrainbridgeAcknowledgementSlow", "TrainbridgeParkedDeliveries",
        "TrainbridgeOutboxBacklogGrowing", "TrainbridgeDeadLetters",
        "TrainbridgeTrainerNoProgress", "TrainbridgeTrainerHeartbeatMissing",
        "TrainbridgeLabelboxErrorRate"}
    for rule in rules:
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        annotations = rule["annotations"]
        assert annotations["summary"].strip() and annotations["description"].strip()
        page, _, anchor = annotations["runbook_url"].partition("#")
        assert page == "docs/operations.md", rule["alert"]
        assert anchor == rule["alert"].lower() and anchor in anchors, rule["alert"]


def test_every_alert_has_a_scenario_where_it_fires_and_one_where_it_stays_quiet() -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    for group in load_yaml(ALERTS_TEST)["tests"]:
        for case in group["alert_rule_test"]:
            (fires if case["exp_alerts"] else quiet).add(case["alertname"])
    names = {rule["alert"] for rule in alert_rules()}

    assert fires == names
    assert quiet == names


promtool = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    promtool is None, reason="promtool is not installed (Debian: apt-get install prometheus); "
    ".ci/run installs it and runs these checks itself")


@needs_promtool
@pytest.mark.parametrize("command", [
    ["check", "config", PROMETHEUS_CONFIG.name],
    ["check", "rules", ALERTS.name],
    ["test", "rules", ALERTS_TEST.name],
], ids=["check-config", "check-rules", "test-rules"])
def test_promtool_accepts_the_config_and_the_rules_and_their_unit_tests_pass(
    command: list[str],
) -> None:
    assert promtool is not None
    ran = subprocess.run([promtool, *command], cwd=ALERTS.parent, capture_output=True,
                         text=True, timeout=60, check=False)

    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "SUCCESS" in ran.stdout + ran.stderr


# -- Prometheus' scrape configuration -----------------------------------------------------------


def test_prometheus_scrapes_each_service_by_its_compose_name_on_its_metrics_port() -> None:
    config = load_yaml(PROMETHEUS_CONFIG)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}

    assert set(jobs) == set(BY_SERVICE) == set(METRICS_PORTS)
    for service, settings in METRICS_PORTS.items():
        (discovery,) = jobs[service]["dns_sd_configs"]
        assert discovery["names"] == [service] and discovery["type"] == "A"
        assert discovery["port"] == default_metrics_port(settings)
    assert config["rule_files"] == [ALERTS.name]


# -- the Grafana dashboard and its provisioning -----------------------------------------------


def provisioned_datasource_uids() -> set[str]:
    return {source["uid"] for path in DATASOURCES.glob("*.yml")
            for source in load_yaml(path)["datasources"]}


def test_the_provisioned_datasource_is_the_compose_prometheus() -> None:
    (source,) = [s for path in DATASOURCES.glob("*.yml") for s in load_yaml(path)["datasources"]]
    config = load_yaml(PROMETHEUS_CONFIG)

    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert source["jsonData"]["timeInterval"] == config["global"]["scrape_interval"]


def test_the_dashboard_is_grafana_dashboard_json_on_the_provisioned_datasource() -> None:
    uids = provisioned_datasource_uids()
    (path,) = dashboard_files()
    dashboard = load_dashboard(path)

    assert dashboard["uid"] and dashboard["title"] and isinstance(dashboard["schemaVersion"], int)
    everything = list(panels(dashboard))
    ids = [panel["id"] for panel in everything]
    assert len(ids) == len(set(ids)) and len(ids) >= 20
    for panel in everything:
        assert panel["type"] in PANEL_TYPES, panel["title"]
        grid = panel["gridPos"]
        assert grid["w"] >= 1 and grid["h"] >= 1 and grid["x"] >= 0 and grid["x"] + grid["w"] <= 24
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] in uids, panel["title"]
        targets = panel["targets"]
        assert targets, panel["title"]
        assert len({t["refId"] for t in targets}) == len(targets), panel["title"]
        for target in targets:
            assert target["expr"].strip() and target["datasource"]["uid"] in uids, panel["title"]


def test_the_dashboard_shows_what_operators_watch() -> None:
    (path,) = dashboard_files()
    used = {selector.name for panel in panels(load_dashboard(path))
            for target in panel.get("targets", []) for selector in selectors(target["expr"])}

    assert used >= {
        "trainbridge_ingest_events_appended_total",  # runs started
        "trainbridge_reporter_run_duration_seconds_count",  # runs completed / failed
        "trainbridge_reporter_acknowledgement_lag_seconds_bucket",
        "trainbridge_reporter_run_duration_seconds_bucket",  # time to completion
        "trainbridge_trainer_stage_duration_seconds_bucket",
        "trainbridge_reporter_labelbox_calls_total",
        "trainbridge_reporter_labelbox_rate_limited_total",
        "trainbridge_outbox_backlog",
        "trainbridge_consumer_messages_handled_total",
        "trainbridge_consumer_queue_messages",
        "trainbridge_consumer_dead_letter_queue_messages",
        "trainbridge_reporter_parked_deliveries",
    }


def test_the_dashboard_provider_reads_the_directory_the_dashboards_are_mounted_at() -> None:
    (provider,) = [p for path in DASHBOARD_PROVIDERS.glob("*.yml")
                   for p in load_yaml(path)["providers"]]

    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/etc/grafana/dashboards"
