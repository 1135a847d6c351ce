"""After one run end to end, each service's ``/metrics`` (each on its own port) serves every
name the catalogue (:mod:`trainbridge.metric_names`) promises to dashboards and alerts, and
every metric the shipped dashboard and alert rules (deploy/observability) read."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from fake_labelbox.sample_rows import text_classification_rows
from tests.deploy.observability import PROMETHEUS_SERIES, expressions, owners, selectors
from tests.e2e.conftest import System
from tests.integration.helpers import eventually
from trainbridge.metric_names import BY_SERVICE


def served_names(page: str) -> set[str]:
    """Family names (a histogram's base name) and sample names (a counter's ``_total``)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(page):
        if family.samples:
            names.add(family.name)
            names.update(sample.name for sample in family.samples)
    return names


async def test_after_a_run_each_service_serves_its_catalogued_names_and_those_dashboards_read(
    system: System,
) -> None:
    system.fake.control.add_model_run(
        "metrics-run", data_rows=text_classification_rows("model-1", "metrics-run"))
    assert (await system.request("metrics-run")).status_code == 202
    await system.wait_terminal(["metrics-run"])
    assert system.fake.control.statuses("metrics-run")[-1] == "COMPLETE"
    missing: dict[str, set[str]] = {}

    async def all_served() -> bool:  # the backlog and parked gauges are read periodically
        for service, expected in BY_SERVICE.items():
            page = (await system.http.get(system.metrics_urls[service])).text
            missing[service] = set(expected) - served_names(page)
        return not any(missing.values())

    try:
        await eventually(all_served, 30, interval=0.5)
    except AssertionError:
        raise AssertionError(f"not served: {missing}") from None
    webhook = await system.http.get(f"{system.ingest_url}/metrics")
    served = {service: served_names((await system.http.get(url)).text)
              for service, url in system.metrics_urls.items()}

    assert webhook.status_code == 404  # not on the public webhook port
    assert unserved_by_owner(served) == {}


def unserved_by_owner(served: dict[str, set[str]]) -> dict[str, list[str]]:
    """``{dashboard panel or alert: [metric (services that should serve it)]}`` for every
    metric an expression reads that no scrape of its owner served (a histogram's
    ``_bucket``/``_sum``/``_count`` are served as such, a counter with its ``_total``)."""
    found: dict[str, list[str]] = {}
    for where, expression in expressions().items():
        for selector in selectors(expression):
            if selector.name in PROMETHEUS_SERIES:
                continue
            services = owners(selector, BY_SERVICE)
            if not services or any(selector.name not in served[s] for s in services):
                found.setdefault(where, []).append(f"{selector.name} ({sorted(services)})")
    return found
