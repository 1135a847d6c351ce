"""``/_fake/...``: the JSON API tests and demos use to set the fake up and inspect it.

| method and path | body / query | answer |
|---|---|---|
| ``GET /_fake/health`` | | ``{"ok": true}`` |
| ``POST /_fake/reset`` | ``{"seed": 0}`` | ``{"ok": true}`` (forgets everything) |
| ``GET /_fake/model-runs`` | | ``{"model_runs": [<model run>]}`` |
| ``POST /_fake/model-runs`` | ``{"id", "model_id"?, "name"?, "data_rows"?}`` | ``<model run>`` |
| ``POST /_fake/model-runs`` | ``{"id", "sample": <model type>, "count"?, "seed"?}`` | same |
| ``GET /_fake/media/{path}`` | | a sample's image (what its rows' URLs point at) |
| ``GET /_fake/model-runs/{id}`` | | ``<model run>``: statuses, metadata, imports, exports |
| ``GET /_fake/behaviour`` | | ``{"imports": {...}, "exports": {...}}`` (``"*"``: default) |
| ``PUT /_fake/behaviour/imports`` | ``{"model_run_id"?, <ImportBehaviour fields>}`` | it |
| ``PUT /_fake/behaviour/exports`` | ``{"model_run_id"?, <ExportBehaviour fields>}`` | it |
| ``GET/POST/DELETE /_fake/faults`` | a rule (POST) | ``{"faults": [...]}`` / the rule |
| ``GET /_fake/requests`` | ``?operation=&model_run_id=`` | ``{"requests": [...]}`` |

``data_rows`` omitted or null: the sample text-classification rows; ``[]``: none. ``sample``:
the sample export of that model type (:mod:`fake_labelbox.samples.catalog`), its
images served by the fake itself."""

from __future__ import annotations

import json
from typing import Any

from litestar import Request, Response, delete, get, post, put
from litestar.exceptions import HTTPException

from fake_labelbox.behaviour import BehaviourError, ExportBehaviour, ImportBehaviour
from fake_labelbox.faults import FaultRuleError
from fake_labelbox.samples.catalog import UnknownSampleError, sample_export
from fake_labelbox.state import DEFAULT_MODEL_ID, FakeLabelboxState, UnknownModelRunError


def _state(request: Request[Any, Any, Any]) -> FakeLabelboxState:
    state: FakeLabelboxState = request.app.state.fake.state
    return state


def _bad(message: str) -> HTTPException:
    return HTTPException(status_code=400, detail=message)


async def _body(request: Request[Any, Any, Any]) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise _bad("the body must be JSON") from None
    if not isinstance(data, dict):
        raise _bad("the body must be a JSON object")
    return data


def _model_run_id(data: dict[str, Any]) -> str | None:
    value = data.pop("model_run_id", None)
    if value is not None and not isinstance(value, str):
        raise _bad("model_run_id must be a string or null")
    return value


_NULLABLE = frozenset({"model_run_id", "status", "graphql_error", "times", "message",
                       "retry_after"})


def _escaped(value: Any, status_code: int = 200) -> Response[bytes]:
    """JSON with escapes (json.dumps), for answers that may echo hostile text: msgspec
    cannot encode a lone surrogate."""
    return Response(json.dumps(value).encode(), status_code=status_code,
                    media_type="application/json")


@get("/_fake/health", include_in_schema=False)
async def health() -> dict[str, Any]:
    return {"ok": True}


@post("/_fake/reset", status_code=200, include_in_schema=False)
async def reset(request: Request[Any, Any, Any]) -> dict[str, Any]:
    seed = (await _body(request)).get("seed", 0)
    if not isinstance(seed, int):
        raise _bad("seed must be an integer")
    _state(request).reset(seed)
    return {"ok": True}


@get("/_fake/model-runs", include_in_schema=False)
async def list_model_runs(request: Request[Any, Any, Any]) -> dict[str, Any]:
    state = _state(request)
    return {"model_runs": [state.model_run_json(i) for i in state.model_run_ids()]}


@post("/_fake/model-runs", status_code=201, include_in_schema=False)
async def add_model_run(request: Request[Any, Any, Any]) -> Response[bytes]:
    data = await _body(request)
    model_run_id = data.get("id")
    model_id = data.get("model_id") or DEFAULT_MODEL_ID
    name = data.get("name")
    rows = data.get("data_rows")
    if not isinstance(model_run_id, str) or not model_run_id:
        raise _bad("id must be a non-empty string")
    if not isinstance(model_id, str) or (name is not None and not isinstance(name, str)):
        raise _bad("model_id and name must be strings")
    if rows is not None and not (isinstance(rows, list) and all(isinstance(r, dict) for r in rows)):
        raise _bad("data_rows must be a list of export rows (JSON objects) or null")
    state = _state(request)
    if data.get("sample") is not None:
        rows = _sample_rows(request, data, model_id, model_run_id)
    state.add_model_run(model_run_id, model_id=model_id, name=name, rows=rows)
    return _escaped(state.model_run_json(model_run_id), 201)


def _sample_rows(request: Request[Any, Any, Any], data: dict[str, Any], model_id: str,
                 model_run_id: str) -> list[dict[str, Any]]:
    count, seed = data.get("count"), data.get("seed", 0)
    if not isinstance(data["sample"], str) or not isinstance(seed, int) or not (
            count is None or (isinstance(count, int) and count > 0)):
        raise _bad("sample must be a model type, count a positive integer, seed an integer")
    base_url = str(request.base_url).rstrip("/") + "/_fake"
    try:
        sample = sample_export(data["sample"], model_id, model_run_id, base_url=base_url,
                               count=count, seed=seed)
    except UnknownSampleError as exc:
        raise _bad(str(exc)) from None
    _state(request).add_media({path.removeprefix("/media"): body
                               for path, body in sample.files.items()})
    return sample.rows


@get("/_fake/media/{path:path}", include_in_schema=False)
async def media(request: Request[Any, Any, Any]) -> Response[bytes]:
    path: str = request.path_params["path"]
    body = _state(request).media(path)
    if body is None:
        raise HTTPException(status_code=404, detail=f"no media at {path}")
    return Response(body, media_type="image/png" if path.endswith(".png") else
                    "application/octet-stream")


@get("/_fake/model-runs/{model_run_id:str}", include_in_schema=False)
async def model_run(request: Request[Any, Any, Any]) -> Response[bytes]:
    model_run_id: str = request.path_params["model_run_id"]
    try:
        return _escaped(_state(request).model_run_json(model_run_id))
    except UnknownModelRunError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None


@get("/_fake/behaviour", include_in_schema=False)
async def behaviour(request: Request[Any, Any, Any]) -> Response[bytes]:
    return _escaped(_state(request).behaviours())


@put("/_fake/behaviour/imports", include_in_schema=False)
async def set_import_behaviour(request: Request[Any, Any, Any]) -> Response[bytes]:
    data = await _body(request)
    model_run_id = _model_run_id(data)
    try:
        chosen = ImportBehaviour.from_json(data)
    except BehaviourError as exc:
        raise _bad(str(exc)) from None
    _state(request).set_import_behaviour(model_run_id, chosen)
    return _escaped(chosen.to_json())


@put("/_fake/behaviour/exports", include_in_schema=False)
async def set_export_behaviour(request: Request[Any, Any, Any]) -> dict[str, Any]:
    data = await _body(request)
    model_run_id = _model_run_id(data)
    try:
        chosen = ExportBehaviour.from_json(data)
    except BehaviourError as exc:
        raise _bad(str(exc)) from None
    _state(request).set_export_behaviour(model_run_id, chosen)
    return chosen.to_json()


@get("/_fake/faults", include_in_schema=False)
async def faults(request: Request[Any, Any, Any]) -> Response[bytes]:
    return _escaped({"faults": [rule.to_json() for rule in _state(request).faults()]})


@post("/_fake/faults", status_code=201, include_in_schema=False)
async def add_fault(request: Request[Any, Any, Any]) -> Response[bytes]:
    data = {k: v for k, v in (await _body(request)).items() if v is not None or k in _NULLABLE}
    try:
        return _escaped(_state(request).add_fault(data).to_json(), 201)
    except (FaultRuleError, TypeError) as exc:
        raise _bad(str(exc)) from None


@delete("/_fake/faults", status_code=200, include_in_schema=False)
async def clear_faults(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    _state(request).clear_faults()
    return Response({"ok": True}, status_code=200)


@get("/_fake/requests", include_in_schema=False)
async def requests(request: Request[Any, Any, Any]) -> Response[bytes]:
    query = request.query_params
    records = _state(request).requests(query.get("operation"), query.get("model_run_id"))
    return _escaped({"requests": [r.to_json() for r in records]})


CONTROL_ROUTES = [
    health, reset, list_model_runs, add_model_run, model_run, behaviour,
    set_import_behaviour, set_export_behaviour, faults, add_fault, clear_faults, requests,
    media,
]
