"""Reading deploy/observability the way the tests check it: the alert rules and the Grafana
dashboard's expressions, and the metric names (with the scrape job they ask for) that a
PromQL expression selects."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.files import ROOT

OBSERVABILITY = ROOT / "deploy" / "observability"
PROMETHEUS_CONFIG = OBSERVABILITY / "prometheus.yml"
ALERTS = OBSERVABILITY / "alerts.yml"
ALERTS_TEST = OBSERVABILITY / "alerts_test.yml"
GRAFANA = OBSERVABILITY / "grafana"
DASHBOARDS = GRAFANA / "dashboards"
DATASOURCES = GRAFANA / "provisioning" / "datasources"
DASHBOARD_PROVIDERS = GRAFANA / "provisioning" / "dashboards"

PROMETHEUS_SERIES = frozenset({"up"})
"""Series Prometheus writes itself for every target, not served by any service."""

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

_KEYWORDS = frozenset({
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan",
})
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_RANGE = re.compile(r"\[[^\[\]]*\]")  # a range or subquery: durations and $__rate_interval
_TOKEN = re.compile(
    r"(?P<string>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`[^`]*`)"
    r"|(?P<matchers>\{(?:[^{}\"]|\"(?:[^\"\\]|\\.)*\")*\})"
    r"|(?<![\w:.$])(?P<identifier>[A-Za-z_:][\w:]*)"
)
_JOB = re.compile(r"\bjob\s*(?P<op>=~|!=|!~|=)\s*\"(?P<value>[^\"]*)\"")


@dataclass(frozen=True)
class Selector:
    """A metric a PromQL expression reads, and the scrape jobs its ``job`` matcher allows
    (``None``: any job)."""

    name: str
    jobs: frozenset[str] | None = None


def _jobs(matchers: str) -> frozenset[str] | None:
    match = _JOB.search(matchers)
    if match is None or match["op"] in ("!=", "!~"):
        return None
    if match["op"] == "=":
        return frozenset({match["value"]})
    if re.fullmatch(r"[\w-]+(?:\|[\w-]+)*", match["value"]):
        return frozenset(match["value"].split("|"))
    return None  # a regular expression beyond a plain alternation: any job


def selectors(expression: str) -> list[Selector]:
    """The metric selectors of ``expression``, in order: identifiers that are neither
    functions nor aggregations (followed by ``(``), keywords, label names (inside ``{…}``
    and ``by``/``without``/``on``/``ignoring``/``group_*`` lists), string literals,
    durations or numbers."""
    text = _RANGE.sub(" ", _GROUPING.sub(" ", expression))
    found: list[Selector] = []
    pending: str | None = None  # an identifier whose matchers may follow
    for token in _TOKEN.finditer(text):
        if token["matchers"] is not None:
            if "__name__" in token["matchers"]:
                raise ValueError(f"a selector by __name__ cannot be checked: {expression}")
            if pending is not None:
                found.append(Selector(pending, _jobs(token["matchers"])))
                pending = None
            continue
        if pending is not None:
            found.append(Selector(pending))
            pending = None
        name = token["identifier"]
        if name is None or name.lower() in _KEYWORDS:
            continue
        if text[token.end():].lstrip().startswith("("):
            continue  # a function or an aggregation
        pending = name
    if pending is not None:
        found.append(Selector(pending))
    return found


def catalogued(name: str, catalogue: frozenset[str] | set[str]) -> str | None:
    """``name`` as the catalogue lists it (a histogram's ``_bucket``/``_sum``/``_count``
    by the histogram's name), or ``None`` when it does not list it."""
    if name in catalogue:
        return name
    for suffix in HISTOGRAM_SUFFIXES:
        base = name.removesuffix(suffix)
        if name.endswith(suffix) and base in catalogue and not base.endswith("_total"):
            return base  # a counter is listed with its _total, never a histogram
    return None


def owners(selector: Selector, by_service: Mapping[str, tuple[str, ...]]) -> set[str]:
    """The services whose scrape must serve ``selector``: those its ``job`` matcher names,
    else every service whose catalogue lists it."""
    listing = {service for service, names in by_service.items()
               if catalogued(selector.name, set(names)) is not None}
    if selector.jobs is None:
        return listing
    return set(selector.jobs) & set(by_service)


# -- the files -------------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]]


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def load_dashboard(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside rows included."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def expressions() -> dict[str, str]:
    """``{where: PromQL}`` of every alert rule and every dashboard panel target."""
    found = {f"alert {rule['alert']}": rule["expr"] for rule in alert_rules()}
    for path in dashboard_files():
        for panel in panels(load_dashboard(path)):
            for target in panel.get("targets", []):
                found[f"{path.name} panel {panel['title']!r} {target['refId']}"] = target["expr"]
    return found
