"""One redaction for everything Trainbridge prints: log lines, error messages, tracebacks.

``redact`` masks the secrets any URL may carry (``user:PASSWORD@``, ``?password=``);
``RedactingFilter`` applies it to every log record and also masks the exact values of the
secrets the entry point knows (``known_secrets``: passwords, keys, webhook secrets and the
contents of every ``*_FILE``), wherever a driver or a library happens to echo them."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

SECRET_QUERY_KEYS = ("password", "passwd", "pass", "sslpassword", "secret", "token",
                     "api_key", "apikey", "key")
"""Query parameters whose values are secrets (``?password=``, ``?sslpassword=``...)."""


def redact(text: str) -> str:
    """``text`` with every password in it masked, fit for logs and error messages: the
    password of any URL's userinfo (``user:***@``) and the value of any secret query
    parameter (``password=***``), wherever they occur in the text."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _SECRET_PARAMETER.sub(lambda m: f"{m['key']}=***", text)


_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/?#@\s]*):[^@\s/]*@")
_SECRET_PARAMETER = re.compile(
    r"(?P<key>(?<![A-Za-z0-9_])(?:" + "|".join(SECRET_QUERY_KEYS) + r"))=[^&\s#'\"]*",
    re.IGNORECASE,
)


SECRET_SETTING = re.compile(r"(PASSWORD|SECRET|API_KEY|TOKEN)$")
"""Settings whose whole value is a secret (``TRAINBRIDGE_WEBHOOK_SECRET``, ``LABELBOX_API_KEY``,
``TRAINBRIDGE_INGEST_DATABASE_PASSWORD``...)."""

MINIMUM_SECRET_LENGTH = 4
"""Shorter values are not masked by value (masking every "a" would garble the logs); URL
passwords are masked by position whatever their length."""


def known_secrets(environ: Mapping[str, str]) -> list[str]:
    """The secret values in ``environ``: whole secret settings, the contents of every
    ``*_FILE`` (read again here only to know what to mask), and each URL's password, plain
    and percent-decoded. Longest first, so a secret containing another is masked whole."""
    found: set[str] = set()
    for name, value in environ.items():
        if name.endswith("_FILE"):
            try:
                content = Path(value).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError):
                continue
            found.add(content)
            found.update(_url_passwords(content))
            if SECRET_SETTING.search(name.removesuffix("_FILE")):
                found.update(part.strip() for part in content.split(","))
        elif SECRET_SETTING.search(name):
            found.add(value)
            found.update(part.strip() for part in value.split(","))
        elif "://" in value:
            found.update(_url_passwords(value))
    return sorted((s for s in found if len(s) >= MINIMUM_SECRET_LENGTH), key=len, reverse=True)


def _url_passwords(text: str) -> set[str]:
    passwords: set[str] = set()
    for match in re.finditer(r"[A-Za-z][A-Za-z0-9+.-]*://\S+", text):
        try:
            parts = urlsplit(match.group(0))
        except ValueError:
            continue
        if parts.password:
            passwords.update({parts.password, unquote(parts.password)})
        for secret in _SECRET_PARAMETER_VALUE.findall(parts.query):
            passwords.update({secret, unquote(secret)})
    return passwords


_SECRET_PARAMETER_VALUE = re.compile(
    r"(?<![A-Za-z0-9_])(?:" + "|".join(SECRET_QUERY_KEYS) + r")=([^&\s#]+)", re.IGNORECASE)


def mask(text: str, secrets: Iterable[str] = ()) -> str:
    """``redact(text)``, with every known secret value also replaced by ``***``."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return redact(text)


class RedactingFilter(logging.Filter):
    """Attached to every log handler by the entry point: a record leaves with its message
    and its traceback masked."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage(), self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = mask(record.stack_info, self.secrets)
        return True
