"""Pipelines are plug-ins: found through the `trainbridge.pipelines` entry point group, the
built-ins exactly like a third-party package's."""

from __future__ import annotations

import sys
import textwrap
import types
from collections.abc import Iterator
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pytest

from eventlog.model_types import InMemoryModelTypeCatalog
from services.trainer import registry
from services.trainer.pipelines.image_classification import ImageClassification
from services.trainer.pipelines.text_classification import TextClassification
from services.trainer.registry import (
    GROUP,
    PipelineRegistryError,
    announce,
    installed,
    load_pipelines,
    pipeline_at,
    pipeline_reference,
)


def test_the_built_in_pipelines_come_from_the_entry_point_group() -> None:
    names = {ep.name for ep in entry_points(group=GROUP)}
    pipelines = load_pipelines()

    assert "text_single_classification" in names
    assert isinstance(pipelines["text_single_classification"], TextClassification)


@pytest.fixture
def installed_plugin(tmp_path: Path) -> Iterator[None]:
    """A third-party package, installed the way pip would leave it: a module and a dist-info
    folder whose entry_points.txt registers its pipeline."""
    (tmp_path / "acme_pipelines.py").write_text(textwrap.dedent('''
        from services.trainer.pipelines.text_classification import TextClassification

        class SentimentPipeline(TextClassification):
            model_type = "acme_sentiment"
            description = "ACME's sentiment model"
    '''))
    dist_info = tmp_path / "acme_pipelines-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-pipelines\nVersion: 1.0\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[trainbridge.pipelines]\nacme_sentiment = acme_pipelines:SentimentPipeline\n"
    )
    sys.path.insert(0, str(tmp_path))
    yield
    sys.path.remove(str(tmp_path))
    sys.modules.pop("acme_pipelines", None)


def test_an_installed_third_party_pipeline_is_picked_up(installed_plugin: None) -> None:
    pipelines = load_pipelines()

    assert pipelines["acme_sentiment"].description == "ACME's sentiment model"
    assert "text_single_classification" in pipelines


def test_a_broken_entry_point_is_reported_by_name() -> None:
    broken = EntryPoint("broken", "no_such_module:Pipeline", GROUP)
    with pytest.raises(PipelineRegistryError, match=r"'broken'.*failed to load"):
        load_pipelines([broken])

    not_a_pipeline = EntryPoint("odd", "json:dumps", GROUP)
    with pytest.raises(PipelineRegistryError, match="not a Pipeline subclass"):
        load_pipelines([not_a_pipeline])


def test_two_pipelines_claiming_one_model_type_are_refused() -> None:
    twice = [
        EntryPoint(name, "services.trainer.pipelines.text_classification:TextClassification",
                   GROUP)
        for name in ("a", "b")
    ]
    with pytest.raises(PipelineRegistryError, match="two pipelines claim"):
        load_pipelines(twice)


def test_a_training_child_finds_its_pipeline_by_reference_alone(
    installed_plugin: None,
) -> None:
    """The trainer hands each child its pipeline's place; the child makes that one pipeline,
    the same as the registry made it, without reading every package's entry points."""
    for model_type, pipeline in load_pipelines().items():
        found = pipeline_at(pipeline_reference(pipeline), model_type)

        assert type(found) is type(pipeline)
        assert found.model_type == model_type


def test_a_pipeline_class_no_name_leads_back_to_is_found_through_the_registry() -> None:
    def make() -> type[TextClassification]:
        class Made(TextClassification):  # made by a function: `module:Class` cannot name it
            model_type = "made"
        return Made

    made = make()()

    assert pipeline_reference(made) is None
    assert isinstance(pipeline_at(None, "text_single_classification"), TextClassification)
    with pytest.raises(PipelineRegistryError, match="no registered pipeline trains 'made'"):
        pipeline_at(None, "made")


def test_a_pipeline_found_by_reference_reads_no_entry_points(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reference = pipeline_reference(load_pipelines()["text_single_classification"])

    def unread(**_: object) -> None:
        raise AssertionError("the entry points were read")

    monkeypatch.setattr(registry, "entry_points", unread)

    assert pipeline_at(reference, "text_single_classification").model_type == (
        "text_single_classification")


def test_a_pipeline_of_a_module_made_in_memory_is_found_through_the_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = types.ModuleType("made_in_memory")  # no spec: importlib cannot find it by name

    class InMemory(TextClassification):
        __module__ = "made_in_memory"
        __qualname__ = "InMemory"

    made.InMemory = InMemory  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "made_in_memory", made)

    assert pipeline_reference(InMemory()) is None


def test_a_reference_to_another_model_types_pipeline_is_refused() -> None:
    text = pipeline_reference(load_pipelines()["text_single_classification"])

    with pytest.raises(PipelineRegistryError, match="not 'ner'"):
        pipeline_at(text, "ner")
    with pytest.raises(PipelineRegistryError, match="failed to load"):
        pipeline_at("no_such_module:Pipeline", "ner")


async def test_the_trainer_announces_exactly_its_pipelines_for_get_models() -> None:
    catalog = InMemoryModelTypeCatalog()

    await announce(catalog, "trainer-1", load_pipelines())

    listed = {t.name: t.description for t in await catalog.list()}
    assert set(listed) == {
        "image_single_classification", "text_single_classification",
        "image_multi_classification", "text_multi_classification", "bounding_box", "ner"}
    assert listed["image_single_classification"] == ImageClassification.description
    assert listed["text_single_classification"] == TextClassification.description


class NeedsAMissingLibrary(TextClassification):
    model_type = "needs_missing"
    requires = ("no_such_library_installed_here",)
    extra = "missing"


def test_a_pipeline_whose_libraries_are_missing_is_not_offered_and_says_which_extra(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pipelines = {"text_single_classification": TextClassification(),
                 "needs_missing": NeedsAMissingLibrary()}

    offered = installed(pipelines)

    assert set(offered) == {"text_single_classification"}
    assert "pip install 'trainbridge[missing]'" in caplog.text
    assert "no_such_library_installed_here" in caplog.text
