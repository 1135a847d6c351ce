"""A Labelbox port in memory, for the reporter's unit tests: it keeps what it was asked to
do (``statuses``, ``exports``, ``imports``) and refuses what a test tells it to refuse."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.reporter.labelbox_port import ImportReport


class RefusedError(ValueError):
    """What the fake raises for a refused call: a permanent error to the reporter."""


@dataclass
class RecordingLabelbox:
    rows: list[dict[str, Any]] = field(default_factory=list)
    """What an export returns."""
    export_state: str = "COMPLETE"
    refuse: set[str] = field(default_factory=set)
    """Port methods (``update_status``...) that raise ``RefusedError``."""
    statuses: list[tuple[str, str, dict[str, str], str | None]] = field(default_factory=list)
    configs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    exports: list[tuple[str, str]] = field(default_factory=list)
    imports: dict[tuple[str, str], list[Mapping[str, Any]]] = field(default_factory=dict)
    creates: int = 0

    def _check(self, method: str) -> None:
        if method in self.refuse:
            raise RefusedError(f"{method} refused")

    def update_status(self, model_run_id: str, status: str, metadata: Mapping[str, str],
                      error_message: str | None = None) -> None:
        self._check("update_status")
        self.statuses.append((model_run_id, status, dict(metadata), error_message))

    def update_config(self, model_run_id: str, config: Mapping[str, Any]) -> None:
        self._check("update_config")
        self.configs.append((model_run_id, dict(config)))

    def start_export(self, model_run_id: str, task_name: str) -> str:
        self._check("start_export")
        self.exports.append((model_run_id, task_name))
        return f"task-{len(self.exports)}"

    def export_status(self, task_id: str) -> str:
        return self.export_state

    def export_rows(self, task_id: str) -> list[dict[str, Any]]:
        return list(self.rows)

    def find_import(self, model_run_id: str, name: str) -> ImportReport | None:
        if (model_run_id, name) not in self.imports:
            return None
        return ImportReport(f"import-{name}", name, "FINISHED", "100%", "file:///statuses")

    def create_import(self, model_run_id: str, name: str,
                      lines: Sequence[Mapping[str, Any]]) -> ImportReport:
        self._check("create_import")
        self.creates += 1
        self.imports[(model_run_id, name)] = list(lines)
        return ImportReport(f"import-{name}", name, "RUNNING")

    def import_row_statuses(self, report: ImportReport) -> list[dict[str, Any]]:
        lines = next(v for (_, name), v in self.imports.items() if name == report.name)
        return [{"dataRow": {"id": line.get("dataRow", {}).get("id")}, "status": "SUCCESS"}
                for line in lines]

    def status_names(self, model_run_id: str) -> list[str]:
        return [s for run, s, _, _ in self.statuses if run == model_run_id]
