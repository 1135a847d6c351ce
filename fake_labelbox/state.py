"""The fake's in-memory state: model runs, their status history, prediction imports, export
tasks, behaviour knobs, fault rules and the request log. No HTTP here.

Every public method takes the lock; what it returns is a copy, never a live record, so tests
may read the state from their own thread while the server changes it."""

from __future__ import annotations

import bisect
import copy
import itertools
import json
import random
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from fake_labelbox.behaviour import ExportBehaviour, ImportBehaviour
from fake_labelbox.faults import FaultBook, FaultRule
from fake_labelbox.sample_rows import text_classification_rows

ImportState = Literal["RUNNING", "FINISHED", "FAILED"]
ExportStatus = Literal["IN_PROGRESS", "COMPLETE", "FAILED"]
PIPELINE_STATUSES = ("EXPORTING_DATA", "PREPARING_DATA", "TRAINING_MODEL", "COMPLETE", "FAILED")
DEFAULT_MODEL_ID = "model-1"
ROW_ERROR_NAME = "DataRowNotFound"

_IDS = itertools.count(1)
_ID_LOCK = threading.Lock()

Row = dict[str, Any]
RowFactory = Callable[[str, str], list[Row]]
"""(model_id, model_run_id) -> the export rows of a model run registered without rows."""


def timestamp(at: datetime | None = None) -> str:
    """Labelbox's datetime format, e.g. ``2024-01-01T00:00:00.000Z``."""
    at = (at or datetime.now(UTC)).astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


class UnknownModelRunError(LookupError):
    def __init__(self, model_run_id: str) -> None:
        super().__init__(f"model run {model_run_id!r} does not exist")
        self.model_run_id = model_run_id


class DuplicateImportError(ValueError):
    def __init__(self, model_run_id: str, name: str) -> None:
        super().__init__(f"model run {model_run_id!r} already has an import named {name!r}")


@dataclass
class StatusUpdate:
    status: str
    metadata: dict[str, Any]
    error_message: str | None
    at: str

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "metadata": self.metadata,
                "error_message": self.error_message, "at": self.at}


@dataclass
class ModelRun:
    id: str
    model_id: str
    name: str
    rows: list[Row]
    created_at: str
    updated_at: str
    config: dict[str, Any] | None = None
    statuses: list[StatusUpdate] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    """Every status update's metadata merged, later keys winning (as Labelbox does)."""


@dataclass
class PredictionImport:
    id: str
    model_run_id: str
    name: str
    lines: list[dict[str, Any]]
    content: bytes
    behaviour: ImportBehaviour
    created_at: str
    state: ImportState = "RUNNING"
    polls: int = 0
    row_statuses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def created_count(self) -> int:
        """How many lines became predictions (0 unless the import FINISHED)."""
        if self.state != "FINISHED":
            return 0
        return sum(s["status"] == "SUCCESS" for s in self.row_statuses)

    def finish(self) -> None:
        self.state = self.behaviour.outcome
        if self.state != "FINISHED":
            return
        failing = self.behaviour.failing_data_rows
        for line in self.lines:
            data_row = dict(line.get("dataRow") or {})
            keys = {str(data_row.get("id")), str(data_row.get("globalKey"))}
            status: dict[str, Any] = {"uuid": line.get("uuid"), "dataRow": data_row}
            if keys & failing:
                status["status"] = "FAILURE"
                status["errors"] = [{
                    "name": ROW_ERROR_NAME,
                    "message": self.behaviour.row_error if self.behaviour.row_error
                    is not None else f"Data row {data_row} was not found in model run "
                                     f"{self.model_run_id} (fake Labelbox failing_data_rows)",
                }]
            else:
                status["status"] = ("SUCCESS" if self.behaviour.row_status is None
                                    else self.behaviour.row_status)
            self.row_statuses.append(status)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "model_run_id": self.model_run_id, "name": self.name,
            "state": self.state, "polls": self.polls, "created_at": self.created_at,
            "lines_count": len(self.lines), "created_count": self.created_count,
            "lines": self.lines, "row_statuses": self.row_statuses,
            "behaviour": self.behaviour.to_json(),
        }


@dataclass
class ExportTask:
    id: str
    model_run_id: str
    name: str | None
    payload: bytes
    line_starts: list[int]
    behaviour: ExportBehaviour
    created_at: str
    updated_at: str
    status: ExportStatus = "IN_PROGRESS"
    polls: int = 0

    @property
    def total_lines(self) -> int:
        return len(self.line_starts)

    def finish(self) -> None:
        self.status = "FAILED" if self.behaviour.fail else "COMPLETE"
        self.updated_at = timestamp()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "model_run_id": self.model_run_id, "name": self.name,
            "status": self.status, "polls": self.polls, "created_at": self.created_at,
            "total_lines": self.total_lines, "total_size": len(self.payload),
            "behaviour": self.behaviour.to_json(),
        }


@dataclass(frozen=True)
class ExportChunk:
    start: int
    end: int
    """Inclusive byte offsets."""
    first_line: int
    last_line: int


@dataclass(frozen=True)
class RequestRecord:
    operation: str
    model_run_id: str | None
    status: int
    """The HTTP status answered."""
    at: str
    graphql_error: str | None = None
    fault_id: str | None = None
    path: str = "/graphql"
    sdk_method: str | None = None
    variables: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "operation": self.operation, "model_run_id": self.model_run_id,
            "status": self.status, "at": self.at, "graphql_error": self.graphql_error,
            "fault_id": self.fault_id, "path": self.path, "sdk_method": self.sdk_method,
            "variables": self.variables,
        }


def _snapshot(run: ModelRun) -> ModelRun:
    """A copy the caller may change. The rows are shared: a registered row is never changed
    (copying sixty rows on every call was most of the fake's CPU)."""
    return ModelRun(run.id, run.model_id, run.name, list(run.rows), run.created_at,
                    run.updated_at, copy.deepcopy(run.config), copy.deepcopy(run.statuses),
                    copy.deepcopy(run.metadata))


RAW_LINE = "_fake_raw_line"
"""A row ``{RAW_LINE: text}`` is served as that text, verbatim: a line that is not JSON, or
JSON nested deeper than any encoder here would write."""


def _ndjson(rows: Iterable[Row]) -> tuple[bytes, list[int]]:
    payload = bytearray()
    starts = []
    for row in rows:
        starts.append(len(payload))
        if isinstance(row.get(RAW_LINE), str) and len(row) == 1:
            payload += row[RAW_LINE].encode("utf-8", "surrogatepass") + b"\n"
            continue
        try:
            line = json.dumps(row, ensure_ascii=False).encode()
        except UnicodeEncodeError:  # lone surrogates: served as JSON escapes, as json writes
            line = json.dumps(row).encode()
        payload += line + b"\n"
    return bytes(payload), starts


class FakeLabelboxState:
    """Everything the fake knows. ``default_rows`` gives rows to model runs registered
    without any, including auto-created ones (default: the sample text-classification
    rows)."""

    def __init__(self, *, seed: int = 0, default_rows: RowFactory | None = None) -> None:
        self._lock = threading.RLock()
        self._default_rows: RowFactory = default_rows or text_classification_rows
        self._closed = threading.Event()
        self._interruption = threading.Event()
        self._generation = 0
        self.reset(seed)

    # -- lifecycle ---------------------------------------------------------------------

    def reset(self, seed: int = 0) -> None:
        """Forgets everything. Requests still in flight (a hang) are interrupted, and what
        they do afterwards is neither recorded nor applied."""
        with self._lock:
            self._generation += 1
            self._interruption.set()
            self._interruption = threading.Event()
            self._rng = random.Random(seed)
            self._model_runs: dict[str, ModelRun] = {}
            self._imports: dict[str, PredictionImport] = {}
            self._exports: dict[str, ExportTask] = {}
            self._import_behaviour: dict[str | None, ImportBehaviour] = {None: ImportBehaviour()}
            self._export_behaviour: dict[str | None, ExportBehaviour] = {None: ExportBehaviour()}
            self._faults = FaultBook()
            self._log: list[RequestRecord] = []
            self._media: dict[str, bytes] = {}

    def close(self) -> None:
        """The server is stopping: hanging requests give up."""
        self._closed.set()
        self._interruption.set()

    @property
    def generation(self) -> int:
        """Changes at every reset."""
        with self._lock:
            return self._generation

    def interruption(self) -> threading.Event:
        """Set at the next reset or at close: what a hanging request waits on."""
        with self._lock:
            return self._closed if self._closed.is_set() else self._interruption

    def _new_id(self, prefix: str) -> str:
        # Unique across resets and servers in this process: the SDK caches by object id
        # (``AnnotationImport._fetch_remote_ndjson`` is an lru_cache keyed on the import).
        with _ID_LOCK:
            return f"{prefix}-{next(_IDS)}"

    # -- model runs --------------------------------------------------------------------

    def add_model_run(
        self,
        model_run_id: str,
        *,
        model_id: str = DEFAULT_MODEL_ID,
        name: str | None = None,
        rows: Iterable[Row] | None = None,
    ) -> ModelRun:
        """Registers (or replaces) a model run. ``rows=None``: the default rows."""
        served = (self._default_rows(model_id, model_run_id) if rows is None
                  else copy.deepcopy(list(rows)))
        now = timestamp()
        run = ModelRun(model_run_id, model_id, name or f"run {model_run_id}", served, now, now)
        with self._lock:
            self._model_runs[model_run_id] = run
            return _snapshot(run)

    def add_media(self, files: Mapping[str, bytes]) -> None:
        """Files the data rows' URLs point at, by path under ``/_fake/media``."""
        with self._lock:
            self._media.update(files)

    def media(self, path: str) -> bytes | None:
        with self._lock:
            return self._media.get(path)

    def model_run(self, model_run_id: str, *, create: bool = False) -> ModelRun:
        """The model run; with ``create``, an unknown one is registered with default rows."""
        with self._lock:
            if model_run_id not in self._model_runs:
                if not create:
                    raise UnknownModelRunError(model_run_id)
                self.add_model_run(model_run_id)
            return _snapshot(self._model_runs[model_run_id])

    def has_model_run(self, model_run_id: str) -> bool:
        with self._lock:
            return model_run_id in self._model_runs

    def model_run_ids(self) -> list[str]:
        with self._lock:
            return list(self._model_runs)

    def update_status(
        self,
        model_run_id: str,
        status: str,
        metadata: Mapping[str, Any] | None = None,
        error_message: str | None = None,
    ) -> StatusUpdate:
        if status not in PIPELINE_STATUSES:
            raise ValueError(f"status must be one of {PIPELINE_STATUSES}, not {status!r}")
        with self._lock:
            run = self._model_runs.get(model_run_id)
            if run is None:
                raise UnknownModelRunError(model_run_id)
            update = StatusUpdate(status, dict(metadata or {}), error_message, timestamp())
            run.statuses.append(update)
            run.metadata.update(update.metadata)
            run.updated_at = update.at
            return copy.deepcopy(update)

    def update_config(self, model_run_id: str, config: Mapping[str, Any] | None) -> ModelRun:
        """Merges ``config`` into the training metadata; None resets it."""
        with self._lock:
            run = self._model_runs.get(model_run_id)
            if run is None:
                raise UnknownModelRunError(model_run_id)
            run.config = None if config is None else {**(run.config or {}), **config}
            run.updated_at = timestamp()
            return _snapshot(run)

    # -- behaviour ---------------------------------------------------------------------

    def set_import_behaviour(self, model_run_id: str | None, behaviour: ImportBehaviour) -> None:
        with self._lock:
            self._import_behaviour[model_run_id] = behaviour

    def set_export_behaviour(self, model_run_id: str | None, behaviour: ExportBehaviour) -> None:
        with self._lock:
            self._export_behaviour[model_run_id] = behaviour

    def import_behaviour(self, model_run_id: str | None) -> ImportBehaviour:
        with self._lock:
            return self._import_behaviour.get(model_run_id) or self._import_behaviour[None]

    def export_behaviour(self, model_run_id: str | None) -> ExportBehaviour:
        with self._lock:
            return self._export_behaviour.get(model_run_id) or self._export_behaviour[None]

    def behaviours(self) -> dict[str, Any]:
        with self._lock:
            def key(k: str | None) -> str:
                return "*" if k is None else k
            return {
                "imports": {key(k): b.to_json() for k, b in self._import_behaviour.items()},
                "exports": {key(k): b.to_json() for k, b in self._export_behaviour.items()},
            }

    # -- prediction imports ------------------------------------------------------------

    def create_import(
        self, model_run_id: str, name: str, lines: list[dict[str, Any]], content: bytes
    ) -> PredictionImport:
        with self._lock:
            if model_run_id not in self._model_runs:
                raise UnknownModelRunError(model_run_id)
            if self._find_import(model_run_id, name) is not None:
                raise DuplicateImportError(model_run_id, name)
            created = PredictionImport(
                self._new_id("import"), model_run_id, name, copy.deepcopy(lines), content,
                self.import_behaviour(model_run_id), timestamp(),
            )
            if created.behaviour.polls_until_done == 0:
                created.finish()
            self._imports[created.id] = created
            return copy.deepcopy(created)

    def _find_import(self, model_run_id: str, name: str) -> PredictionImport | None:
        for candidate in self._imports.values():
            if candidate.model_run_id == model_run_id and candidate.name == name:
                return candidate
        return None

    def poll_import(self, model_run_id: str, name: str) -> PredictionImport | None:
        """The SDK's status read: counts a poll and may end the import."""
        with self._lock:
            found = self._find_import(model_run_id, name)
            if found is None:
                return None
            found.polls += 1
            if found.state == "RUNNING" and found.polls >= found.behaviour.polls_until_done:
                found.finish()
            return copy.deepcopy(found)

    def prediction_import(self, import_id: str) -> PredictionImport | None:
        with self._lock:
            found = self._imports.get(import_id)
            return copy.deepcopy(found)

    def imports(self, model_run_id: str | None = None) -> list[PredictionImport]:
        with self._lock:
            return [copy.deepcopy(i) for i in self._imports.values()
                    if model_run_id is None or i.model_run_id == model_run_id]

    # -- exports -----------------------------------------------------------------------

    def create_export(self, model_run_id: str, name: str | None) -> ExportTask:
        with self._lock:
            run = self._model_runs.get(model_run_id)
            if run is None:
                raise UnknownModelRunError(model_run_id)
            payload, starts = _ndjson(run.rows)
            now = timestamp()
            task = ExportTask(self._new_id("export-task"), model_run_id, name, payload, starts,
                              self.export_behaviour(model_run_id), now, now)
            if task.behaviour.polls_until_done == 0:
                task.finish()
            self._exports[task.id] = task
            return copy.deepcopy(task)

    def poll_export(self, task_id: str) -> ExportTask | None:
        """The SDK's task status read: counts a poll and may end the export."""
        with self._lock:
            task = self._exports.get(task_id)
            if task is None:
                return None
            task.polls += 1
            if task.status == "IN_PROGRESS" and task.polls >= task.behaviour.polls_until_done:
                task.finish()
            return copy.deepcopy(task)

    def export_task(self, task_id: str) -> ExportTask | None:
        with self._lock:
            return copy.deepcopy(self._exports.get(task_id))

    def exports(self, model_run_id: str | None = None) -> list[ExportTask]:
        with self._lock:
            return [copy.deepcopy(t) for t in self._exports.values()
                    if model_run_id is None or t.model_run_id == model_run_id]

    def export_chunk(self, task_id: str, offset: int) -> ExportChunk | None:
        """The rows from the one starting at (or containing) byte ``offset``."""
        with self._lock:
            task = self._exports.get(task_id)
            if task is None or not 0 <= offset < len(task.payload):
                return None
            first = bisect.bisect_right(task.line_starts, offset) - 1
            per_file = task.behaviour.lines_per_file or task.total_lines
            last = min(first + per_file, task.total_lines) - 1
            end = (task.line_starts[last + 1] if last + 1 < task.total_lines
                   else len(task.payload)) - 1
            return ExportChunk(offset, end, first, last)

    # -- faults and the request log ----------------------------------------------------

    def add_fault(self, body: Mapping[str, Any]) -> FaultRule:
        with self._lock:
            return self._faults.add(body)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def faults(self) -> list[FaultRule]:
        with self._lock:
            return self._faults.rules()

    def draw_fault(self, operation: str, model_run_id: str | None) -> FaultRule | None:
        with self._lock:
            return self._faults.draw(operation, model_run_id, self._rng)

    def record(self, entry: RequestRecord, generation: int | None = None) -> None:
        """Logs a request, unless it began before a reset (``generation`` is then stale)."""
        with self._lock:
            if generation is None or generation == self._generation:
                self._log.append(entry)

    def requests(
        self, operation: str | None = None, model_run_id: str | None = None
    ) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self._log
                    if (operation is None or r.operation == operation)
                    and (model_run_id is None or r.model_run_id == model_run_id)]

    # -- inspection --------------------------------------------------------------------

    def model_run_json(self, model_run_id: str) -> dict[str, Any]:
        with self._lock:
            run = self.model_run(model_run_id)
            return {
                "id": run.id, "model_id": run.model_id, "name": run.name,
                "created_at": run.created_at, "updated_at": run.updated_at,
                "rows_count": len(run.rows), "config": run.config,
                "statuses": [s.to_json() for s in run.statuses],
                "metadata": run.metadata,
                "imports": [i.to_json() for i in self.imports(model_run_id)],
                "exports": [t.to_json() for t in self.exports(model_run_id)],
            }
