"""The delivery key: what names one delivery to Labelbox within a model run, in the ledger
(``reporter_deliveries``) and the audit log (``labelbox_calls``). Its format is
``attempt-<run attempt>/<what>``, e.g. ``attempt-2/status/TRAINING_MODEL``; this module is
the only one that builds or reads it (migration 0009 read it once, to fill
``labelbox_calls.run_attempt`` for the rows written before that column)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_KEY = re.compile(r"attempt-([1-9][0-9]*)/(.+)", re.DOTALL)


@dataclass(frozen=True)
class DeliveryKey:
    run_attempt: int
    """The model run's attempt the delivery belongs to."""
    name: str
    """What is delivered: ``status/<STATUS>``, ``export``, ``predictions``, ``config``..."""

    def __str__(self) -> str:
        return f"attempt-{self.run_attempt}/{self.name}"


def delivery_key(run_attempt: int, name: str) -> str:
    """The key of ``name`` for the run's attempt ``run_attempt``."""
    if run_attempt < 1 or not name:
        raise ValueError(f"no delivery key for attempt {run_attempt!r} and name {name!r}")
    return str(DeliveryKey(run_attempt, name))


def parse_delivery_key(key: str) -> DeliveryKey:
    """The attempt and name in ``key``; ``ValueError`` for a key of another format."""
    matched = _KEY.fullmatch(key)
    if matched is None:
        raise ValueError(f"not a delivery key (attempt-<n>/<name>): {key!r}")
    return DeliveryKey(int(matched[1]), matched[2])
