"""An independent signer for the tests: HMAC written out from RFC 2104 with hashlib, so a
bug in the service's use of ``hmac`` cannot hide behind the same bug here."""

from __future__ import annotations

import hashlib


def hmac_hex(secret: str, body: bytes, algorithm: str = "sha1") -> str:
    block = 64
    key = secret.encode()
    if len(key) > block:
        key = hashlib.new(algorithm, key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.new(algorithm, bytes(k ^ 0x36 for k in key) + body).digest()
    return hashlib.new(algorithm, bytes(k ^ 0x5C for k in key) + inner).hexdigest()


def signed(body: bytes, secret: str, *, sha256: bool = False) -> dict[str, str]:
    headers = {"X-Hub-Signature": "sha1=" + hmac_hex(secret, body)}
    if sha256:
        headers["X-Hub-Signature-256"] = "sha256=" + hmac_hex(secret, body, "sha256")
    return headers
