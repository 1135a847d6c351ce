"""Labelbox's signature is verified on the raw bytes with every configured secret."""

from __future__ import annotations

import pytest

from services.ingest.signature import verify
from tests.signing import hmac_hex

VECTOR_BODY = (
    b'{"modelRunId": "9da6c7e2-bc0d-0679-1e2e-a6a4e28475c8", "modelType": "bounding_box"}'
)


def test_the_known_answer_vectors_hold_for_the_test_signer() -> None:
    assert hmac_hex("test_secret", VECTOR_BODY) == "239fa1491240cc0eca42c4e5d47ed8e6239059e6"
    assert hmac_hex("test_secret", b"") == "b33b3b73cc2715209467aca3e7d3453b7256e9ca"


@pytest.mark.parametrize(
    ("body", "signature"),
    [
        (VECTOR_BODY, "sha1=239fa1491240cc0eca42c4e5d47ed8e6239059e6"),
        (b"", "sha1=b33b3b73cc2715209467aca3e7d3453b7256e9ca"),
    ],
)
def test_the_known_answer_vectors_are_accepted(body: bytes, signature: str) -> None:
    match = verify(body, {"x-hub-signature": signature}, ["test_secret"])
    assert match is not None and match.secret_index == 0


def test_any_configured_secret_is_accepted_and_named_by_its_index() -> None:
    headers = {"x-hub-signature": "sha1=" + hmac_hex("new", b"{}")}
    match = verify(b"{}", headers, ["old", "new"])
    assert match is not None and match.secret_index == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-hub-signature": ""},
        {"x-hub-signature": "sha1=" + "0" * 40},
        {"x-hub-signature": hmac_hex("test_secret", b"{}")},  # no "sha1=" prefix
        {"x-hub-signature": "sha1=" + hmac_hex("other", b"{}")},
    ],
)
def test_a_missing_or_wrong_signature_is_refused(headers: dict[str, str]) -> None:
    assert verify(b"{}", headers, ["test_secret"]) is None


def test_a_sha256_signature_is_verified_when_present() -> None:
    sha1 = "sha1=" + hmac_hex("s", b"{}")
    good = "sha256=" + hmac_hex("s", b"{}", "sha256")
    assert verify(b"{}", {"x-hub-signature": sha1, "x-hub-signature-256": good}, ["s"])
    assert verify(b"{}", {"x-hub-signature-256": good}, ["s"])
    bad = "sha256=" + hmac_hex("other", b"{}", "sha256")
    assert verify(b"{}", {"x-hub-signature": sha1, "x-hub-signature-256": bad}, ["s"]) is None


def test_the_signature_covers_every_byte_of_the_body() -> None:
    headers = {"x-hub-signature": "sha1=" + hmac_hex("s", b'{"a": 1}')}
    assert verify(b'{"a":1}', headers, ["s"]) is None
