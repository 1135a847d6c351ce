"""The model type names ``POST /model_run`` accepts, from the catalogue without a query per
request: the names read last are reused for ``max_age`` seconds, and a name they lack is
looked up again at once. Trainers only ever add to the catalogue, so a type announced a moment
ago is accepted on its first request, exactly as when every request read the catalogue."""

from __future__ import annotations

import time
from collections.abc import Callable

from eventlog.model_types import ModelTypeCatalog

DEFAULT_MAX_AGE = 10.0
"""Seconds the names read last are reused before the catalogue is read again."""


class KnownModelTypes:
    def __init__(self, catalog: ModelTypeCatalog, *, max_age: float = DEFAULT_MAX_AGE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._catalog = catalog
        self._max_age = max_age
        self._clock = clock
        self._names: frozenset[str] = frozenset()
        self._read_at: float | None = None

    async def including(self, name: object) -> frozenset[str]:
        """The known names, read afresh when the ones read last are too old or lack
        ``name`` (what the request asks for: anything, before it is validated; only a
        string can be a model type)."""
        fresh = self._read_at is not None and self._clock() - self._read_at < self._max_age
        if not fresh or (isinstance(name, str) and name not in self._names):
            read_at = self._clock()
            self._names = frozenset(t.name for t in await self._catalog.list())
            self._read_at = read_at
        return self._names
