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
SETTINGS = (WEBHOOK_SECRET, MAX_BODY_BYTES)


@dataclass(frozen=True)
class IngestSettings:
    secrets: tuple[str, ...] = field(repr=False)
    """Webhook secrets, all accepted at once so one can be rotated without downtime."""
    max_body_bytes: int = MAX_BODY_BYTES.default
    host: str = "0.0.0.0"
    port: int = 8000
    """Where to listen: ``trainbridge ingest --host --port``, not the environment."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> IngestSettings:
        return cls(secrets=WEBHOOK_SECRET.read(environ),
                   max_body_bytes=MAX_BODY_BYTES.read(environ))
