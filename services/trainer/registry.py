"""Pipelines are found through the ``trainbridge.pipelines`` entry point group: built-ins and
third-party packages alike. Each entry point names a :class:`Pipeline` subclass."""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

from eventlog.model_types import ModelType, ModelTypeCatalog
from services.trainer.pipeline import Pipeline

GROUP = "trainbridge.pipelines"
logger = logging.getLogger(__name__)


class PipelineRegistryError(RuntimeError):
    pass


def load_pipelines(found: Iterable[EntryPoint] | None = None) -> dict[str, Pipeline]:
    """Instantiate every registered pipeline, keyed by model type."""
    pipelines: dict[str, Pipeline] = {}
    for entry_point in found if found is not None else entry_points(group=GROUP):
        try:
            factory = entry_point.load()
        except Exception as exc:
            raise PipelineRegistryError(
                f"pipeline entry point {entry_point.name!r} ({entry_point.value}) "
                f"failed to load: {exc}"
            ) from exc
        if not (isinstance(factory, type) and issubclass(factory, Pipeline)):
            raise PipelineRegistryError(
                f"pipeline entry point {entry_point.name!r} is not a Pipeline subclass"
            )
        pipeline = factory()
        if pipeline.model_type in pipelines:
            raise PipelineRegistryError(
                f"two pipelines claim model type {pipeline.model_type!r}"
            )
        pipelines[pipeline.model_type] = pipeline
    return pipelines


def pipeline_reference(pipeline: Pipeline) -> str | None:
    """Where ``pipeline``'s class is, as an entry point names it (``module:Class``), if that
    name leads back to it; ``None`` for a class no such name finds (one made by a function,
    or in ``__main__``)."""
    cls = type(pipeline)
    found: object = sys.modules.get(cls.__module__)
    for name in cls.__qualname__.split("."):
        found = getattr(found, name, None)
    if found is not cls or cls.__module__ == "__main__" or not _importable(cls.__module__):
        return None
    return f"{cls.__module__}:{cls.__qualname__}"


def _importable(module: str) -> bool:
    """Whether ``module`` can be imported by its name (not one loaded from a file path or
    made in memory)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: in sys.modules without a spec
        return False


def pipeline_at(reference: str | None, model_type: str) -> Pipeline:
    """The pipeline made by the class at ``reference`` (:func:`pipeline_reference`), checked
    as :func:`load_pipelines` checks it; it must train ``model_type``. Without a reference,
    the registered pipeline of ``model_type`` (every entry point read)."""
    if reference is None:
        registered = load_pipelines()
        if model_type not in registered:
            raise PipelineRegistryError(f"no registered pipeline trains {model_type!r}")
        return registered[model_type]
    [pipeline] = load_pipelines([EntryPoint(model_type, reference, GROUP)]).values()
    if pipeline.model_type != model_type:
        raise PipelineRegistryError(
            f"{reference} trains {pipeline.model_type!r}, not {model_type!r}")
    return pipeline


def pipeline_modules() -> list[str]:
    """The modules the registered pipelines live in (not imported here)."""
    return sorted({entry_point.module for entry_point in entry_points(group=GROUP)})


def missing_modules(pipeline: Pipeline) -> list[str]:
    """The modules ``pipeline`` needs that are not installed here."""
    return [name for name in pipeline.requires if importlib.util.find_spec(name) is None]


def installed(pipelines: dict[str, Pipeline]) -> dict[str, Pipeline]:
    """The pipelines whose libraries are installed; each of the others is logged once with
    the extra that installs what it lacks."""
    ready = {}
    for model_type, pipeline in pipelines.items():
        missing = missing_modules(pipeline)
        if missing:
            logger.warning("model type %s is not offered: %s not installed (pip install "
                           "'trainbridge[%s]')", model_type, ", ".join(missing), pipeline.extra)
        else:
            ready[model_type] = pipeline
    return ready


async def announce(
    catalog: ModelTypeCatalog, trainer: str, pipelines: dict[str, Pipeline]
) -> None:
    """Tell ingest (durably) which model types this trainer can train."""
    await catalog.announce(
        trainer, [ModelType(p.model_type, p.description) for p in pipelines.values()]
    )
