"""The catalogue of model types the trainers can train. Trainers announce their pipelines
at start-up; ingest lists them for Labelbox's ``GET /models``. It lives in the database, so
the list survives every trainer being down, and there is no second hard-coded list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from eventlog.postgres import Database


@dataclass(frozen=True)
class ModelType:
    name: str
    description: str = ""


class ModelTypeCatalog(Protocol):
    async def announce(self, trainer: str, model_types: Sequence[ModelType]) -> None:
        """Record that ``trainer`` can train ``model_types`` (upsert; nothing is removed)."""
        ...

    async def list(self) -> list[ModelType]:
        ...


class InMemoryModelTypeCatalog:
    def __init__(self, model_types: Sequence[ModelType] = ()) -> None:
        self._types = {t.name: t for t in model_types}

    async def announce(self, trainer: str, model_types: Sequence[ModelType]) -> None:
        self._types.update({t.name: t for t in model_types})

    async def list(self) -> list[ModelType]:
        return sorted(self._types.values(), key=lambda t: t.name)


_ANNOUNCE = """
INSERT INTO model_types (model_type, description, announced_by)
SELECT * FROM unnest($1::text[], $2::text[], array_fill($3::text, ARRAY[cardinality($1)]))
ON CONFLICT (model_type) DO UPDATE
SET description = excluded.description, announced_by = excluded.announced_by,
    announced_at = now()
"""

_LIST = "SELECT model_type, description FROM model_types ORDER BY model_type"


class PostgresModelTypeCatalog:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def announce(self, trainer: str, model_types: Sequence[ModelType]) -> None:
        async with self._database.connection() as connection:
            await connection.execute(
                _ANNOUNCE,
                [t.name for t in model_types],
                [t.description for t in model_types],
                trainer,
            )

    async def list(self) -> list[ModelType]:
        async with self._database.connection() as connection:
            rows = await connection.fetch(_LIST)
        return [ModelType(r["model_type"], r["description"]) for r in rows]
