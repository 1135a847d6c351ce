"""``FakeLabelboxControl``: a small synchronous client for the fake's ``/_fake`` API."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Literal

import httpx


class FakeLabelboxControl:
    """``base_url`` is the server's root (``http://127.0.0.1:8081``); a GraphQL endpoint
    URL (``.../graphql``) is accepted too."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        root = base_url.rstrip("/")
        for suffix in ("/graphql", "/_gql"):
            root = root.removesuffix(suffix)
        self.base_url = root
        self._http = httpx.Client(base_url=root, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FakeLabelboxControl:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, method: str, path: str, body: object = None, **params: str | None) -> Any:
        # JSON escapes (json.dumps), not httpx's UTF-8: tests send lone surrogates too
        response = self._http.request(
            method, path, content=None if body is None else json.dumps(body).encode(),
            headers={"content-type": "application/json"},
            params={k: v for k, v in params.items() if v is not None},
        )
        response.raise_for_status()
        return response.json()

    # -- setup -------------------------------------------------------------------------

    def health(self) -> bool:
        return bool(self._call("GET", "/_fake/health")["ok"])

    def reset(self, seed: int = 0) -> None:
        """Forgets model runs, imports, exports, behaviours, faults and the request log."""
        self._call("POST", "/_fake/reset", {"seed": seed})

    def add_model_run(
        self,
        model_run_id: str,
        *,
        model_id: str = "model-1",
        name: str | None = None,
        data_rows: Iterable[Mapping[str, Any]] | None = None,
        sample: str | None = None,
        count: int | None = None,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Registers a model run; ``data_rows=None`` serves the sample text rows, ``sample``
        the sample export of that model type (``count`` rows), images served by the fake."""
        rows = None if data_rows is None else [dict(r) for r in data_rows]
        body: dict[str, Any] = {"id": model_run_id, "model_id": model_id, "name": name,
                                "data_rows": rows}
        if sample is not None:
            body.update(sample=sample, count=count, seed=seed)
        result: dict[str, Any] = self._call("POST", "/_fake/model-runs", body)
        return result

    def set_import_behaviour(
        self,
        model_run_id: str | None = None,
        *,
        polls_until_done: int = 1,
        outcome: Literal["FINISHED", "FAILED"] = "FINISHED",
        failing_data_rows: Iterable[str] = (),
        row_status: Any = None,
        row_error: Any = None,
    ) -> None:
        """For one model run's future imports, or (``None``) the default for all."""
        self._call("PUT", "/_fake/behaviour/imports", {
            "model_run_id": model_run_id, "polls_until_done": polls_until_done,
            "outcome": outcome, "failing_data_rows": list(failing_data_rows),
            "row_status": row_status, "row_error": row_error,
        })

    def set_export_behaviour(
        self,
        model_run_id: str | None = None,
        *,
        polls_until_done: int = 1,
        fail: bool = False,
        lines_per_file: int | None = None,
    ) -> None:
        """For one model run's future exports, or (``None``) the default for all."""
        self._call("PUT", "/_fake/behaviour/exports", {
            "model_run_id": model_run_id, "polls_until_done": polls_until_done,
            "fail": fail, "lines_per_file": lines_per_file,
        })

    def add_fault(
        self,
        operation: str = "*",
        *,
        model_run_id: str | None = None,
        status: int | None = None,
        graphql_error: str | None = None,
        latency: float = 0.0,
        hang: bool = False,
        times: int | None = None,
        probability: float = 1.0,
        after_effect: bool = False,
        message: str | None = None,
        retry_after: float | str | None = None,
    ) -> str:
        """Adds a fault rule; returns its id."""
        rule = self._call("POST", "/_fake/faults", {
            "operation": operation, "model_run_id": model_run_id, "status": status,
            "graphql_error": graphql_error, "latency": latency, "hang": hang, "times": times,
            "probability": probability, "after_effect": after_effect, "message": message,
            "retry_after": retry_after,
        })
        return str(rule["id"])

    def clear_faults(self) -> None:
        self._call("DELETE", "/_fake/faults")

    # -- inspection --------------------------------------------------------------------

    def faults(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/_fake/faults")["faults"]
        return result

    def model_runs(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/_fake/model-runs")["model_runs"]
        return result

    def model_run(self, model_run_id: str) -> dict[str, Any]:
        """id, model_id, name, rows_count, config, statuses (history), metadata (merged),
        imports, exports."""
        result: dict[str, Any] = self._call("GET", f"/_fake/model-runs/{model_run_id}")
        return result

    def statuses(self, model_run_id: str) -> list[str]:
        return [s["status"] for s in self.model_run(model_run_id)["statuses"]]

    def metadata(self, model_run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.model_run(model_run_id)["metadata"]
        return result

    def imports(self, model_run_id: str) -> list[dict[str, Any]]:
        """Each: id, name, state, polls, lines_count, created_count, lines, row_statuses."""
        result: list[dict[str, Any]] = self.model_run(model_run_id)["imports"]
        return result

    def exports(self, model_run_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.model_run(model_run_id)["exports"]
        return result

    def behaviour(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/_fake/behaviour")
        return result

    def requests(
        self, operation: str | None = None, model_run_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The request log, oldest first: operation, model_run_id, status (HTTP), at,
        graphql_error, fault_id, path, sdk_method, variables."""
        result: list[dict[str, Any]] = self._call(
            "GET", "/_fake/requests", operation=operation, model_run_id=model_run_id,
        )["requests"]
        return result

    def operations(self, model_run_id: str | None = None) -> list[str]:
        """Just the operation names of the request log, in order."""
        return [r["operation"] for r in self.requests(model_run_id=model_run_id)]
