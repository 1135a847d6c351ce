"""SCRAM-SHA-256 password verifiers computed on the client (RFC 5802, RFC 7677), in the form
PostgreSQL stores: ``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``.

``ALTER ROLE … PASSWORD '<verifier>'`` stores the verifier as given, so the password itself
never travels to the server, and never lands in its log (``log_statement=ddl``) or in
``pg_stat_statements``; only the verifier does, from which a login cannot be replayed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stringprep
import unicodedata

ITERATIONS = 4096
"""PostgreSQL's default (``scram_iterations``)."""
SALT_BYTES = 16


def verifier(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", _normalized(password), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    b64 = base64.b64encode
    return (f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}$"
            f"{b64(stored_key).decode()}:{b64(server_key).decode()}")


def matches(stored: str, password: str) -> bool:
    """Whether ``stored`` (a verifier) accepts ``password``: recomputed with its salt."""
    try:
        _, head, _keys = stored.split("$")
        iterations, salt = head.split(":")
        expected = verifier(password, salt=base64.b64decode(salt), iterations=int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(stored, expected)


def _normalized(password: str) -> bytes:
    """SASLprep (RFC 4013) as PostgreSQL applies it: a password that SASLprep refuses is
    used as its raw bytes."""
    mapped = "".join(
        " " if stringprep.in_table_c12(c) else c
        for c in password if not stringprep.in_table_b1(c)
    )
    prepared = unicodedata.normalize("NFKC", mapped)
    prohibited = (
        stringprep.in_table_c12, stringprep.in_table_c21, stringprep.in_table_c22,
        stringprep.in_table_c3, stringprep.in_table_c4, stringprep.in_table_c5,
        stringprep.in_table_c6, stringprep.in_table_c7, stringprep.in_table_c8,
        stringprep.in_table_c9, stringprep.in_table_a1,
    )
    if any(check(c) for c in prepared for check in prohibited) or not _bidi_ok(prepared):
        return password.encode()
    return prepared.encode()


def _bidi_ok(text: str) -> bool:
    if not any(stringprep.in_table_d1(c) for c in text):
        return True
    if any(stringprep.in_table_d2(c) for c in text):
        return False
    return stringprep.in_table_d1(text[0]) and stringprep.in_table_d1(text[-1])
