"""After one run end to end, each service's ``/metrics`` (each on its own port) serves every
name the catalogue (:mod:`trainbridge.metric_names`) promises to dashboards and alerts."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from fake_labelbox.sample_rows import text_classification_rows
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


async def test_after_one_run_every_service_serves_the_catalogued_metric_names(
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

    assert webhook.status_code == 404  # not on the public webhook port
