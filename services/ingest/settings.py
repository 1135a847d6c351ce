"""Ingest's own settings, declared here and read once at the entry point."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from eventlog.config import Integer, RequiredList

WEBHOOK_SECRET = RequiredList(
    name="TRAINBRIDGE_WEBHOOK_SECRET", secret=True,
    why="the secret entered in Labelbox under Models > Settings > Model training "
        "(comma-separate several to rotate)",
    description="the secret(s) Labelbox signs with; comma-separated to rotate")
MAX_BODY_BYTES = Integer(name="TRAINBRIDGE_MAX_BODY_BYTES", default=1024 * 1024, minimum=1024,
                         description="largest `POST /model_run` body accepted (413 above)")
METRICS_PORT = Integer(
    name="TRAINBRIDGE_INGEST_METRICS_PORT", default=9100, minimum=0, maximum=65535,
    description="the port of ingest's `/metrics`, on the webhook's listen address but not "
                "its port (`0`: off; `trainbridge ingest --metrics-port` overrides it)")
SETTINGS = (WEBHOOK_SECRET, MAX_BODY_BYTES, METRICS_PORT)


@dataclass(frozen=True)
class IngestSettings:
    secrets: tuple[str, ...] = field(repr=False)
    """Webhook secrets, all accepted at once so one can be rotated without downtime."""
    max_body_bytes: int = MAX_BODY_BYTES.default
    host: str = "0.0.0.0"
    port: int = 8000
    """Where to listen: ``trainbridge ingest --host --port``, not the environment."""
    metrics_port: int = METRICS_PORT.default
    """Port of ``/metrics`` (``0``: not served), on ``host``."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> IngestSettings:
        return cls(secrets=WEBHOOK_SECRET.read(environ),
                   max_body_bytes=MAX_BODY_BYTES.read(environ),
                   metrics_port=METRICS_PORT.read(environ))
