"""Ingest's own settings, read once at the entry point."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from eventlog.settings import SettingsError, read_integer, read_setting

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class IngestSettings:
    secrets: tuple[str, ...] = field(repr=False)
    """Webhook secrets, all accepted at once so one can be rotated without downtime."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    host: str = "0.0.0.0"
    port: int = 8000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> IngestSettings:
        raw = read_setting(environ, "TRAINBRIDGE_WEBHOOK_SECRET") or ""
        secrets = tuple(s.strip() for s in raw.split(",") if s.strip())
        if not secrets:
            raise SettingsError(
                "TRAINBRIDGE_WEBHOOK_SECRET (or TRAINBRIDGE_WEBHOOK_SECRET_FILE) is required: "
                "the secret entered in Labelbox under Models > Settings > Model training "
                "(comma-separate several to rotate)"
            )
        max_body = read_integer(
            environ, "TRAINBRIDGE_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, minimum=1024
        )
        return cls(secrets=secrets, max_body_bytes=max_body)
