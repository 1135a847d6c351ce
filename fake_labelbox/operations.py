"""The GraphQL operations the fake answers, by operation name, with Labelbox's answer shapes
(read from the SDK: ``labelbox.schema.model_run``, ``annotation_import``, ``task``,
``export_task`` and ``labelbox.orm.query``)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fake_labelbox.graphql import GraphQLFailure
from fake_labelbox.state import (
    PIPELINE_STATUSES,
    DuplicateImportError,
    ExportTask,
    FakeLabelboxState,
    ModelRun,
    PredictionImport,
    UnknownModelRunError,
)

USER_ID = "fake-user-1"
EXPORT_TASK_TYPE = "export-data-rows"
_CREATED_TASKS_WHERE = re.compile(r"createdTasks\(where:\s*\{id:\s*\$(\w+)\}")
_SKIP = re.compile(r"skip:\s*(\d+)")


@dataclass(frozen=True)
class Call:
    state: FakeLabelboxState
    query: str
    variables: Mapping[str, Any]
    base_url: str
    """Where this server is reachable, for the file URLs it hands out."""
    auto_create: bool
    upload: bytes | None = None


Resolver = Callable[[Call], dict[str, Any]]
ModelRunOf = Callable[[FakeLabelboxState, str, Mapping[str, Any]], str | None]


@dataclass(frozen=True)
class Operation:
    name: str
    resolve: Resolver
    model_run_of: ModelRunOf
    """The model run a request concerns (for the request log and fault filters)."""


def _text(variables: Mapping[str, Any], key: str) -> str:
    value = variables.get(key)
    if not isinstance(value, str) or not value:
        raise GraphQLFailure("GRAPHQL_VALIDATION_FAILED",
                             f'Variable "${key}" of required type "ID!" was not provided.')
    return value


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _not_found(what: str, field: str) -> GraphQLFailure:
    return GraphQLFailure("RESOURCE_NOT_FOUND", f"{what} not found", data={field: None})


def _model_run(call: Call, model_run_id: str, field: str) -> ModelRun:
    try:
        return call.state.model_run(model_run_id, create=call.auto_create)
    except UnknownModelRunError:
        raise _not_found(f"Model run {model_run_id}", field) from None


# -- model runs ------------------------------------------------------------------------

def _model_run_json(run: ModelRun) -> dict[str, Any]:
    return {
        "createdAt": run.created_at, "createdBy": USER_ID, "modelAppId": None,
        "modelId": run.model_id, "name": run.name, "trainingMetadata": run.config,
        "id": run.id, "updatedAt": run.updated_at,
    }


def get_model_run(call: Call) -> dict[str, Any]:
    run = _model_run(call, _text(call.variables, "param_0"), "modelRun")
    return {"modelRun": _model_run_json(run)}


def set_pipeline_status(call: Call) -> dict[str, Any]:
    model_run_id = _text(call.variables, "modelRunId")
    data = _mapping(call.variables.get("data"))
    status = data.get("status")
    if status not in PIPELINE_STATUSES:
        raise GraphQLFailure(
            "GRAPHQL_VALIDATION_FAILED",
            f'Variable "$data" got invalid value {status!r} at "data.status"; '
            f"value must be one of {list(PIPELINE_STATUSES)}.",
        )
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise GraphQLFailure("GRAPHQL_VALIDATION_FAILED",
                             'Variable "$data" got invalid value at "data.metadata".')
    error_message = data.get("errorMessage")
    _model_run(call, model_run_id, "updateTrainingPipeline")
    call.state.update_status(
        model_run_id, str(status), metadata,
        None if error_message is None else str(error_message),
    )
    return {"updateTrainingPipeline": {"status": status}}


def update_config(call: Call) -> dict[str, Any]:
    model_run_id = _text(call.variables, "modelRunId")
    config = _mapping(_mapping(call.variables.get("data")).get("config"))
    _model_run(call, model_run_id, "updateModelRunConfig")
    run = call.state.update_config(model_run_id, config)
    return {"updateModelRunConfig": {"trainingMetadata": run.config}}


def reset_config(call: Call) -> dict[str, Any]:
    model_run_id = _text(call.variables, "modelRunId")
    _model_run(call, model_run_id, "resetModelRunConfig")
    run = call.state.update_config(model_run_id, None)
    return {"resetModelRunConfig": {"trainingMetadata": run.config}}


def get_config(call: Call) -> dict[str, Any]:
    run = _model_run(call, _text(call.variables, "modelRunId"), "modelRun")
    return {"modelRun": {"trainingMetadata": run.config}}


# -- prediction imports ----------------------------------------------------------------

def _import_json(found: PredictionImport, base_url: str) -> dict[str, Any]:
    files = f"{base_url}/_fake/files/imports/{found.id}"
    return {
        "errorFileUrl": f"{files}/errors", "inputFileUrl": f"{files}/inputs",
        "modelRunId": found.model_run_id, "name": found.name,
        "progress": "0%" if found.state == "RUNNING" else "100%", "state": found.state,
        "statusFileUrl": f"{files}/statuses", "id": found.id,
    }


def _ndjson_lines(content: bytes) -> list[dict[str, Any]]:
    lines = []
    for number, raw in enumerate(content.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError as exc:
            raise GraphQLFailure("MALFORMED_REQUEST", f"line {number} is not JSON: {exc}") from None
        if not isinstance(line, dict):
            raise GraphQLFailure("MALFORMED_REQUEST", f"line {number} is not a JSON object")
        lines.append(line)
    return lines


def create_prediction_import(call: Call) -> dict[str, Any]:
    field = "createModelErrorAnalysisPredictionImport"
    model_run_id = _text(call.variables, "modelRunId")
    name = _text(call.variables, "name")
    if call.upload is None:
        raise GraphQLFailure("MALFORMED_REQUEST", "no file was uploaded for variables.file")
    lines = _ndjson_lines(call.upload)
    if not lines:
        raise GraphQLFailure("MALFORMED_REQUEST", "the uploaded file has no NDJSON lines")
    _model_run(call, model_run_id, field)
    try:
        created = call.state.create_import(model_run_id, name, lines, call.upload)
    except DuplicateImportError as exc:
        raise GraphQLFailure("RESOURCE_CONFLICT", str(exc)) from None
    return {field: _import_json(created, call.base_url)}


def get_prediction_import(call: Call) -> dict[str, Any]:
    field = "modelErrorAnalysisPredictionImport"
    model_run_id = _text(call.variables, "modelRunId")
    name = _text(call.variables, "name")
    found = call.state.poll_import(model_run_id, name)
    if found is None:
        raise _not_found(f"Prediction import {name!r} of model run {model_run_id}", field)
    return {field: _import_json(found, call.base_url)}


# -- exports ---------------------------------------------------------------------------

def create_export(call: Call) -> dict[str, Any]:
    field = "exportDataRowsInModelRun"
    given = _mapping(call.variables.get("input"))
    model_run_id = _text(_mapping(given.get("filters")), "modelRunId")
    _model_run(call, model_run_id, field)
    name = given.get("taskName")
    task = call.state.create_export(model_run_id, name if isinstance(name, str) else None)
    return {field: {"taskId": task.id, "isStreamable": True}}


def _user_json() -> dict[str, Any]:
    at = "2024-01-01T00:00:00.000Z"
    return {
        "createdAt": at, "email": "trainbridge@example.com", "isExternalUser": False,
        "isViewer": False, "lastLoginAt": at, "nickname": "trainbridge",
        "name": "Trainbridge Fake", "picture": None, "id": USER_ID, "updatedAt": at,
    }


def get_user(call: Call) -> dict[str, Any]:
    return {"user": _user_json()}


def _task_json(task: ExportTask) -> dict[str, Any]:
    return {
        "completionPercentage": 0.0 if task.status == "IN_PROGRESS" else 100.0,
        "createdAt": task.created_at, "errors": None, "metadata": None,
        "name": task.name or f"Export v2: model run {task.model_run_id}",
        "result": None, "status": task.status, "type": EXPORT_TASK_TYPE,
        "id": task.id, "updatedAt": task.updated_at,
    }


def _created_task_id(call: Call) -> str:
    match = _CREATED_TASKS_WHERE.search(call.query)
    return _text(call.variables, match.group(1) if match else "param_0")


def get_created_tasks(call: Call) -> dict[str, Any]:
    skip = _SKIP.search(call.query)
    task = None if skip and int(skip.group(1)) > 0 else call.state.poll_export(
        _created_task_id(call))
    return {"user": {"createdTasks": [] if task is None else [_task_json(task)]}}


def _export_task(call: Call) -> ExportTask:
    task_id = _text(_mapping(call.variables.get("where")), "id")
    task = call.state.export_task(task_id)
    if task is None:
        raise _not_found(f"Task {task_id}", "task")
    return task


def get_export_metadata_header(call: Call) -> dict[str, Any]:
    task = _export_task(call)
    header = None
    if (call.variables.get("streamType") == "RESULT" and task.status == "COMPLETE"
            and task.payload):
        header = {"totalSize": len(task.payload), "totalLines": task.total_lines}
    return {"task": {"exportMetadataHeader": header}}


def get_export_file(call: Call) -> dict[str, Any]:
    task = _export_task(call)
    try:
        offset = int(call.variables.get("offset") or 0)
    except (TypeError, ValueError):
        raise GraphQLFailure("GRAPHQL_VALIDATION_FAILED", "offset must be a UInt64") from None
    chunk = None
    if call.variables.get("streamType") == "RESULT" and task.status == "COMPLETE":
        chunk = call.state.export_chunk(task.id, offset)
    if chunk is None:
        return {"task": {"exportFileFromOffset": None}}
    url = f"{call.base_url}/_fake/files/exports/{task.id}?start={chunk.start}&end={chunk.end}"
    return {"task": {"exportFileFromOffset": {
        "offsets": {"start": chunk.start, "end": chunk.end},
        "lines": {"start": chunk.first_line, "end": chunk.last_line},
        "file": url,
    }}}


# -- the registry ----------------------------------------------------------------------

def _variable(key: str) -> ModelRunOf:
    def model_run_of(
        state: FakeLabelboxState, query: str, variables: Mapping[str, Any]
    ) -> str | None:
        value = variables.get(key)
        return value if isinstance(value, str) else None
    return model_run_of


def _export_input(
    state: FakeLabelboxState, query: str, variables: Mapping[str, Any]
) -> str | None:
    value = _mapping(_mapping(variables.get("input")).get("filters")).get("modelRunId")
    return value if isinstance(value, str) else None


def _task_of(task_id: object, state: FakeLabelboxState) -> str | None:
    task = state.export_task(task_id) if isinstance(task_id, str) else None
    return task.model_run_id if task else None


def _where_task(state: FakeLabelboxState, query: str, variables: Mapping[str, Any]) -> str | None:
    return _task_of(_mapping(variables.get("where")).get("id"), state)


def _created_task(
    state: FakeLabelboxState, query: str, variables: Mapping[str, Any]
) -> str | None:
    match = _CREATED_TASKS_WHERE.search(query)
    return _task_of(variables.get(match.group(1) if match else "param_0"), state)


def _none(state: FakeLabelboxState, query: str, variables: Mapping[str, Any]) -> str | None:
    return None


OPERATIONS: dict[str, Operation] = {
    op.name: op for op in (
        Operation("GetModelRunPyApi", get_model_run, _variable("param_0")),
        Operation("setPipelineStatusPyApi", set_pipeline_status, _variable("modelRunId")),
        Operation("updateModelRunConfigPyApi", update_config, _variable("modelRunId")),
        Operation("resetModelRunConfigPyApi", reset_config, _variable("modelRunId")),
        Operation("ModelRunPyApi", get_config, _variable("modelRunId")),
        Operation("createMEAPredictionImportByFilePyApi", create_prediction_import,
                  _variable("modelRunId")),
        Operation("getModelErrorAnalysisPredictionImportPyApi", get_prediction_import,
                  _variable("modelRunId")),
        Operation("exportDataRowsInModelRunPyApi", create_export, _export_input),
        Operation("GetUserPyApi", get_user, _none),
        Operation("GetUserCreatedTasksPyApi", get_created_tasks, _created_task),
        Operation("GetExportMetadataHeaderPyApi", get_export_metadata_header, _where_task),
        Operation("GetExportFileFromOffsetPyApi", get_export_file, _where_task),
    )
}
