"""The model-type catalogue contract, run against the in-memory twin and PostgreSQL."""

from __future__ import annotations

import pytest

from eventlog.model_types import (
    InMemoryModelTypeCatalog,
    ModelType,
    ModelTypeCatalog,
    PostgresModelTypeCatalog,
)
from eventlog.postgres import Database


@pytest.fixture
def memory_catalog() -> ModelTypeCatalog:
    return InMemoryModelTypeCatalog()


@pytest.fixture
def postgres_catalog(database: Database) -> ModelTypeCatalog:
    return PostgresModelTypeCatalog(database)


@pytest.fixture(params=["memory", "postgres"])
def catalog(request: pytest.FixtureRequest) -> ModelTypeCatalog:
    """Each contract test runs once per implementation."""
    implementation: ModelTypeCatalog = request.getfixturevalue(f"{request.param}_catalog")
    return implementation


async def test_a_new_catalogue_lists_nothing(catalog: ModelTypeCatalog) -> None:
    assert await catalog.list() == []


async def test_announced_types_are_listed_by_name(catalog: ModelTypeCatalog) -> None:
    await catalog.announce("trainer-a", [ModelType("ner", "entities"),
                                         ModelType("bounding_box", "boxes")])

    assert await catalog.list() == [ModelType("bounding_box", "boxes"),
                                    ModelType("ner", "entities")]


async def test_a_later_announcement_updates_descriptions_and_removes_nothing(
    catalog: ModelTypeCatalog,
) -> None:
    await catalog.announce("trainer-a", [ModelType("ner", "old"), ModelType("bounding_box")])

    await catalog.announce("trainer-b", [ModelType("ner", "new")])

    assert await catalog.list() == [ModelType("bounding_box", ""), ModelType("ner", "new")]
