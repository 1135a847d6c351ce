"""Does the export fit the model type? Checked on the export's rows before any content is
fetched, for every pipeline (third-party ones too), so a run that cannot train ends
``FAILED`` at once with one line naming the problem and a data row."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from eventlog.contract import KIND_NAMES, AnnotationKind
from services.trainer.export_rows import RowRef
from services.trainer.pipeline import DataError, Pipeline, assign_split


def _media_of(ref: RowRef) -> str:
    return ref.mime_type or ("a URL" if ref.is_url else "inline text")


def check_media(refs: Sequence[RowRef], pipeline: Pipeline) -> None:
    for ref in refs:
        if pipeline.media == "text" and ref.is_image:
            raise DataError(f"{pipeline.model_type} learns from text, but data row "
                            f"{ref.data_row_id} is an image ({ref.mime_type})")
        if pipeline.media == "image" and not ref.is_image and (
                not ref.is_url or (ref.mime_type or "").startswith("text/")):
            raise DataError(f"{pipeline.model_type} learns from images, but data row "
                            f"{ref.data_row_id} is {_media_of(ref)}")


def _kinds_found(refs: Sequence[RowRef]) -> str:
    features: dict[AnnotationKind, set[str]] = {}
    for ref in refs:
        for annotation in ref.annotations:
            features.setdefault(annotation.kind, set()).add(annotation.feature)
    return "; ".join(
        f"{KIND_NAMES[kind]} ({', '.join(repr(f) for f in sorted(names))})"
        for kind, names in sorted(features.items())) or "no annotations at all"


def check_labels(refs: Sequence[RowRef], pipeline: Pipeline) -> None:
    labelled = [r for r in refs if r.labelled]
    wanted = KIND_NAMES[pipeline.learns]
    if not labelled:
        raise DataError(f"none of the {len(refs)} data rows (e.g. {refs[0].data_row_id}) has a "
                        f"label in this model run: {pipeline.model_type} has nothing to learn "
                        "from")
    with_kind = [r for r in labelled if any(a.kind == pipeline.learns for a in r.annotations)]
    if not with_kind:
        raise DataError(f"{pipeline.model_type} learns {wanted}, but the model run's labels "
                        f"have {_kinds_found(labelled)} (e.g. data row "
                        f"{labelled[0].data_row_id})")
    splits = Counter(assign_split(r.data_row_id, r.split) for r in with_kind)
    if not splits["training"]:
        raise DataError(f"none of the {len(with_kind)} data rows labelled with {wanted} is in "
                        f"the training split (e.g. data row {with_kind[0].data_row_id} is in "
                        f"{assign_split(with_kind[0].data_row_id, with_kind[0].split)})")


def check_export(refs: Sequence[RowRef], pipeline: Pipeline) -> None:
    """Raise :class:`DataError` when ``refs`` cannot train ``pipeline``."""
    if not refs:
        raise DataError("the model run's export has no data rows")
    check_media(refs, pipeline)
    check_labels(refs, pipeline)
