"""How long imports and exports take and how they end: per model run, with server defaults.

A job's behaviour is fixed when the job is created. "Polls" are the SDK's status reads of
that job (``getModelErrorAnalysisPredictionImportPyApi`` for an import,
``GetUserCreatedTasksPyApi`` for an export task); the job ends at its N-th poll, so
``polls_until_done=0`` means it is already done when created."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

ImportOutcome = Literal["FINISHED", "FAILED"]
IMPORT_OUTCOMES: tuple[ImportOutcome, ...] = ("FINISHED", "FAILED")


class BehaviourError(ValueError):
    """A behaviour setting that makes no sense."""


def _polls(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BehaviourError(f"polls_until_done must be an integer >= 0, not {value!r}")
    return value


@dataclass(frozen=True)
class ImportBehaviour:
    polls_until_done: int = 1
    outcome: ImportOutcome = "FINISHED"
    failing_data_rows: frozenset[str] = field(default_factory=frozenset)
    """Data row ids (or global keys) whose lines get FAILURE rows while the import FINISHES."""
    row_status: Any = None
    """Served as every succeeding row's ``status`` instead of ``SUCCESS`` (any JSON value:
    hostile text, a nested object), to try the client's reading of status files."""
    row_error: Any = None
    """Served as the failing rows' error ``message`` (any JSON value)."""

    @classmethod
    def of(
        cls,
        *,
        polls_until_done: object = 1,
        outcome: object = "FINISHED",
        failing_data_rows: Iterable[str] = (),
        row_status: Any = None,
        row_error: Any = None,
    ) -> ImportBehaviour:
        if outcome not in IMPORT_OUTCOMES:
            raise BehaviourError(f"outcome must be one of {IMPORT_OUTCOMES}, not {outcome!r}")
        rows = frozenset(str(r) for r in failing_data_rows)
        return cls(_polls(polls_until_done), outcome, rows, row_status, row_error)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ImportBehaviour:
        return cls.of(
            polls_until_done=body.get("polls_until_done", 1),
            outcome=body.get("outcome", "FINISHED"),
            failing_data_rows=body.get("failing_data_rows") or (),
            row_status=body.get("row_status"),
            row_error=body.get("row_error"),
        )

    def to_json(self) -> dict[str, Any]:
        shown = {**asdict(self), "failing_data_rows": sorted(self.failing_data_rows)}
        return {k: v for k, v in shown.items()
                if v is not None or k not in ("row_status", "row_error")}


@dataclass(frozen=True)
class ExportBehaviour:
    polls_until_done: int = 1
    fail: bool = False
    lines_per_file: int | None = None
    """How many rows each ``GetExportFileFromOffsetPyApi`` answer covers (None: all the rest)."""

    @classmethod
    def of(
        cls, *, polls_until_done: object = 1, fail: object = False, lines_per_file: object = None
    ) -> ExportBehaviour:
        if not isinstance(fail, bool):
            raise BehaviourError(f"fail must be a boolean, not {fail!r}")
        if lines_per_file is not None and (
            isinstance(lines_per_file, bool)
            or not isinstance(lines_per_file, int)
            or lines_per_file < 1
        ):
            raise BehaviourError(f"lines_per_file must be None or >= 1, not {lines_per_file!r}")
        return cls(_polls(polls_until_done), fail, lines_per_file)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ExportBehaviour:
        return cls.of(
            polls_until_done=body.get("polls_until_done", 1),
            fail=body.get("fail", False),
            lines_per_file=body.get("lines_per_file"),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
