"""One rule for text from outside (webhook bodies, Labelbox's answers, export rows, error
messages): what PostgreSQL cannot store never reaches it.

PostgreSQL's ``text`` and ``jsonb`` refuse NUL (U+0000; ``jsonb`` also refuses its
``\\u0000`` escape), and UTF-8 cannot encode a lone UTF-16 surrogate (U+D800..U+DFFF), which a
Python string holds after ``json.loads('"\\ud800"')``. Where such text enters, it is either
refused with a clear answer (:func:`unstorable_field`: the webhook's 422 names the field) or
kept with every refused character replaced by U+FFFD, the Unicode replacement character
(:func:`storable`: what Labelbox sends is kept, marked, and never blocks a run). Applied
where outside text enters, once; the PostgreSQL store turns anything that slipped past into
:class:`~eventlog.errors.UnstorableTextError`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MARKER = "\ufffd"
"""What replaces a character PostgreSQL refuses."""

_REFUSED = re.compile("[\x00\ud800-\udfff]")


def is_storable(text: str) -> bool:
    return _REFUSED.search(text) is None


def storable_text(text: str) -> str:
    """``text`` with each character PostgreSQL refuses replaced by :data:`MARKER`."""
    return _REFUSED.sub(MARKER, text)


def storable(value: Any) -> Any:
    """A copy of a JSON-like value (dicts, lists, strings, numbers) in which every string,
    keys included, is :func:`storable_text`. Other values are returned as they are. Raises
    ``RecursionError`` for nesting deeper than Python's recursion limit, as ``json`` does."""
    if isinstance(value, str):
        return _REFUSED.sub(MARKER, value)
    if isinstance(value, Mapping):
        return {storable(k) if isinstance(k, str) else k: storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value


def unstorable_field(value: Any, path: str = "") -> str | None:
    """The path (``modelId``, ``extra.tags[2]``) of the first string PostgreSQL would refuse,
    keys included; ``None`` when everything can be stored."""
    if isinstance(value, str):
        return None if is_storable(value) else (path or "<body>")
    if isinstance(value, Mapping):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and not is_storable(key):
                return storable_text(here)
            found = unstorable_field(item, here)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = unstorable_field(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None
