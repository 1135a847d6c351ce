"""Links to a run's artifacts (the model, its metrics) for Labelbox's metadata: a presigned
URL a Labelbox user can open, valid for ``TRAINBRIDGE_ARTIFACT_LINK_SECONDS``, when the artifact
store can sign one (``s3://``, ``gs://``); otherwise a line saying where the artifact is kept,
never its path (a path on a server means nothing to a Labelbox user, and tells them about the
server).

The audit log records a link without its query string: the signature in it lets anyone
download the artifact until it expires, and the audit log keeps everything for good."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from eventlog.artifacts import is_local, signed_link

logger = logging.getLogger(__name__)

SIGNATURE_REMOVED = "signature-removed"


@dataclass(frozen=True)
class Linked:
    sent: dict[str, str]
    """The metadata to send Labelbox."""
    audited: dict[str, str]
    """The same, with each link's signature removed, for the audit log."""


def _unsigned(link: str) -> str:
    return urlunsplit(urlsplit(link)._replace(query=SIGNATURE_REMOVED, fragment=""))


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ArtifactLinks:
    expires_in: int
    """Seconds a link stays valid."""
    sign: Callable[[str, int], str | None] = signed_link
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    async def metadata(self, links: Sequence[tuple[str, str]], model_run_id: str,
                       attempt: int) -> Linked:
        """For each (key, artifact URI): ``key`` = the link and ``key_expires`` = when it
        stops working; or ``key`` = where the artifact is kept, when there is no link."""
        sent: dict[str, str] = {}
        audited: dict[str, str] = {}
        for key, uri in links:
            expires = _time(self.now() + timedelta(seconds=self.expires_in))
            link = await self._link(uri)
            if link is None:
                sent[key] = audited[key] = self._kept(uri, model_run_id, attempt)
                continue
            sent[key], audited[key] = link, _unsigned(link)
            sent[f"{key}_expires"] = audited[f"{key}_expires"] = expires
        return Linked(sent, audited)

    async def _link(self, uri: str) -> str | None:
        if self.sign is signed_link and is_local(uri):
            return None  # a local directory signs nothing: no worker thread to learn that
        try:
            return await asyncio.to_thread(self.sign, uri, self.expires_in)
        except Exception as exc:  # a missing link must not hold the run's status back
            logger.warning("no link to an artifact of this run: signing failed: %r", exc)
            return None

    @staticmethod
    def _kept(uri: str, model_run_id: str, attempt: int) -> str:
        if is_local(uri):
            where, why = "on the trainer's host", "artifacts are stored locally"
        else:
            where, why = f"in the {urlsplit(uri).scheme}:// artifact store", "none was signed"
        return f"kept {where} under model run {model_run_id}, attempt {attempt} (no link: {why})"
