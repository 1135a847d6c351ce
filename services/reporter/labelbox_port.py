"""The reporter's port to Labelbox: every operation it needs, as one synchronous call each
(the SDK is synchronous; the reporter runs these in worker threads). The real adapter is
:mod:`services.reporter.sdk_adapter`; tests drive it against the project's fake Labelbox."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class UnreadableExportError(ValueError):
    """A finished export whose rows cannot be read (not JSON objects, nested too deeply):
    asking again will not help, so the run fails with this message."""


@dataclass(frozen=True)
class ImportReport:
    """A predictions import as Labelbox reports it."""

    import_id: str
    name: str
    state: str
    """``RUNNING``, ``FINISHED`` or ``FAILED``."""
    progress: str | None = None
    status_file_url: str | None = None
    """Where the per-row outcome lines of a finished import can be read."""


class LabelboxPort(Protocol):
    """Everything a method returns is storable text (:func:`eventlog.text.storable`):
    Labelbox's answers may hold NUL or lone surrogates, which PostgreSQL refuses."""

    def update_status(self, model_run_id: str, status: str, metadata: Mapping[str, str],
                      error_message: str | None) -> None: ...

    def update_config(self, model_run_id: str, config: Mapping[str, Any]) -> None:
        """Merge ``config`` (the hyper-parameters) into the model run's training config."""
        ...

    def start_export(self, model_run_id: str, task_name: str) -> str:
        """Start exporting the model run's data rows; returns the export task id."""
        ...

    def export_status(self, task_id: str) -> str:
        """``IN_PROGRESS``, ``COMPLETE`` or ``FAILED``."""
        ...

    def export_rows(self, task_id: str) -> list[dict[str, Any]]:
        """The rows of a finished export (export-v2 JSON lines). Raises
        ``UnreadableExportError`` when they cannot be read."""
        ...

    def find_import(self, model_run_id: str, name: str) -> ImportReport | None:
        """The predictions import of that name in that model run, if one was created."""
        ...

    def create_import(self, model_run_id: str, name: str,
                      lines: Sequence[Mapping[str, Any]]) -> ImportReport: ...

    def import_row_statuses(self, report: ImportReport) -> list[dict[str, Any]]:
        """Per-row outcome lines of a finished import (``status`` SUCCESS or FAILURE)."""
        ...
