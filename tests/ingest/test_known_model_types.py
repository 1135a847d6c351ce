"""Which model types ``POST /model_run`` accepts, without reading the catalogue per request:
what a trainer announced is accepted on its first request all the same."""

from __future__ import annotations

from eventlog.model_types import InMemoryModelTypeCatalog, ModelType
from services.ingest.known_model_types import KnownModelTypes


class CountingCatalog(InMemoryModelTypeCatalog):
    """The in-memory catalogue, counting how often it is read."""

    def __init__(self, model_types: list[ModelType]) -> None:
        super().__init__(model_types)
        self.reads = 0

    async def list(self) -> list[ModelType]:
        self.reads += 1
        return await super().list()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


BOXES = ModelType("bounding_box", "boxes")
NER = ModelType("ner", "entities")


async def test_a_known_type_is_checked_without_reading_the_catalogue_again() -> None:
    catalog, clock = CountingCatalog([BOXES]), Clock()
    known = KnownModelTypes(catalog, max_age=10, clock=clock)

    first = await known.including("bounding_box")
    clock.now += 9.9
    later = [await known.including("bounding_box") for _ in range(50)]

    assert first == frozenset({"bounding_box"})
    assert all(names == first for names in later)
    assert catalog.reads == 1


async def test_a_type_announced_after_the_last_read_is_known_on_its_first_request() -> None:
    catalog, clock = CountingCatalog([BOXES]), Clock()
    known = KnownModelTypes(catalog, max_age=10, clock=clock)
    await known.including("bounding_box")

    await catalog.announce("trainer-2", [NER])

    assert await known.including("ner") == frozenset({"bounding_box", "ner"})
    assert catalog.reads == 2


async def test_an_unknown_type_is_looked_up_each_time_and_stays_unknown() -> None:
    catalog, clock = CountingCatalog([BOXES]), Clock()
    known = KnownModelTypes(catalog, max_age=10, clock=clock)

    answers = [await known.including("no_such_type") for _ in range(3)]

    assert all("no_such_type" not in names for names in answers)
    assert catalog.reads == 3


async def test_the_names_are_read_again_once_they_are_older_than_max_age() -> None:
    catalog, clock = CountingCatalog([BOXES]), Clock()
    known = KnownModelTypes(catalog, max_age=10, clock=clock)
    await known.including("bounding_box")

    clock.now += 10
    await known.including("bounding_box")

    assert catalog.reads == 2


async def test_a_model_type_that_is_not_a_string_reads_nothing_more() -> None:
    catalog, clock = CountingCatalog([BOXES]), Clock()
    known = KnownModelTypes(catalog, max_age=10, clock=clock)
    await known.including("bounding_box")

    for odd in (None, ["bounding_box"], {"a": 1}, 7):
        assert await known.including(odd) == frozenset({"bounding_box"})

    assert catalog.reads == 1
