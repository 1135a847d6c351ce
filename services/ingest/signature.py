"""Labelbox's webhook signature: ``X-Hub-Signature: sha1=<hex HMAC-SHA1(secret, raw body)>``
(over an empty body for ``GET /models``), and ``X-Hub-Signature-256: sha256=<hex>`` when
present. Verified on the raw bytes, before anything is parsed, in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# header -> hash algorithm, which is also the value's prefix ("sha1=...")
_HEADERS = {"x-hub-signature": "sha1", "x-hub-signature-256": "sha256"}


@dataclass(frozen=True)
class SignatureMatch:
    secret_index: int
    """Which configured secret matched (its position; never the secret itself)."""
    algorithms: tuple[str, ...]


def _matches(secret: str, body: bytes, algorithm: str, value: str) -> bool:
    expected = f"{algorithm}={hmac.new(secret.encode(), body, algorithm).hexdigest()}"
    return hmac.compare_digest(expected.encode(), value.strip().lower().encode())


def verify(
    body: bytes, headers: Mapping[str, str], secrets: Sequence[str]
) -> SignatureMatch | None:
    """The secret that signed ``body``, or ``None``. Every signature header present must be
    valid for the same secret, and at least one must be present."""
    present = {_HEADERS[name]: headers[name] for name in _HEADERS if headers.get(name)}
    if not present:
        return None
    for index, secret in enumerate(secrets):
        if all(_matches(secret, body, algo, value) for algo, value in present.items()):
            return SignatureMatch(index, tuple(present))
    return None
