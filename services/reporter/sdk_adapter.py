"""The Labelbox port, implemented with the official ``labelbox`` SDK.

Two deliberate departures from the SDK's defaults, both so that each audited call is one
attempt: the SDK's own retry of 5xx and timeouts (google-api-core, up to 120 s, invisible to
us) is switched off on this client, and every request gets the configured timeout. The
reporter retries instead, with backoff, jitter and a rate limit, and audits every attempt.

Three more, for CPU, that leave what is sent unchanged: the SDK names the calling method in
an ``X-SDK-Method`` header by walking ``inspect.stack()``, which reads the source file of
every frame on every request (about half the SDK's CPU per call), so each method below names
its SDK call itself (``Class:method``, the header's format) and the walk only happens for
requests made outside them; the session reads the proxy and CA-bundle environment once, for
the one endpoint it talks to, instead of on every request; and the current user (which every
export task lookup fetches first) is fetched once per client."""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import labelbox
import labelbox.pagination
import lbox.request_client
import requests
from labelbox.schema.annotation_import import MEAPredictionImport
from labelbox.schema.export_task import ExportTask
from labelbox.schema.model_run import ModelRun
from lbox.exceptions import ResourceNotFoundError
from lbox.request_client import RequestClient
from requests.adapters import HTTPAdapter

from eventlog.text import storable, storable_text
from services.reporter.faults import RETRY_AFTER, parse_retry_after
from services.reporter.labelbox_port import ImportReport, UnreadableExportError

logger = logging.getLogger(__name__)


_calling = threading.local()
_stack_walk: Callable[[], str] = lbox.request_client.call_info_as_str


def _named_call_info() -> str:
    name: str | None = getattr(_calling, "sdk_method", None)
    return name if name is not None else _stack_walk()


@contextmanager
def _sdk_method(name: str) -> Iterator[None]:
    """Requests this thread sends in the block carry ``X-SDK-Method: name``."""
    _calling.sdk_method = name
    try:
        yield
    finally:
        _calling.sdk_method = None


class _PerThreadSdkMethod(RequestClient):  # type: ignore[misc]
    """The SDK's pagination names its method on the request client (``set_sdk_method``),
    which every thread shares: a request sent meanwhile from another thread took that
    name. Here the name is the sending thread's: the adapter's own name for the call,
    else what this thread's pagination set."""

    @property
    def sdk_method(self) -> str | None:
        named: str | None = getattr(_calling, "sdk_method", None)
        if named is not None:
            return named
        paginating: str | None = getattr(_calling, "paginating", None)
        return paginating

    @sdk_method.setter
    def sdk_method(self, value: str | None) -> None:
        _calling.paginating = value


def _name_calls_without_stack_walks() -> None:
    lbox.request_client.call_info_as_str = _named_call_info
    labelbox.pagination.call_info_as_str = _named_call_info


class _RetryAfterAdapter(HTTPAdapter):
    """Keeps the ``Retry-After`` of a 429 or 503 answer for the thread that sent the request:
    the SDK turns those answers into exceptions that do not keep the response."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
             ) -> requests.Response:
        response = super().send(request, *args, **kwargs)
        if response.status_code in (429, 503):
            _calling.retry_after = response.headers.get("Retry-After")
        return response


def _read_environment_once(session: requests.Session, endpoint: str) -> None:
    """What ``trust_env`` would look up on every request, looked up now: the proxies for the
    endpoint (honouring ``NO_PROXY``) and a CA bundle (``REQUESTS_CA_BUNDLE`` or
    ``CURL_CA_BUNDLE``). The session only ever talks to the endpoint; the SDK downloads
    files with ``requests.get``, which still reads the environment itself."""
    session.proxies.update(requests.utils.get_environ_proxies(endpoint))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.trust_env = False


def _remember_user(client: labelbox.Client) -> None:
    """``Task.get_task`` (every export start and poll) fetches the key's user first; the
    user of an API key does not change, so fetch it once (a failed fetch is not kept)."""
    fetch = client.get_user
    remembered: list[Any] = []

    def get_user() -> Any:
        if not remembered:
            remembered.append(fetch())
        return remembered[0]

    client.get_user = get_user


@functools.cache
def _model_run_fields() -> tuple[str, ...]:
    return tuple(f.graphql_name for f in ModelRun.fields())


def single_attempt_client(api_key: str, endpoint: str, timeout: float,
                          connections: int = 16) -> labelbox.Client:
    """A client whose every request is sent once, with ``timeout`` seconds to answer, and
    whose session keeps ``connections`` connections (the SDK's default pool of 10 makes
    more threads than that open and discard a connection per call). Constructing it sends
    nothing."""
    _name_calls_without_stack_walks()
    client = labelbox.Client(api_key=api_key, endpoint=endpoint, enable_experimental=True)
    request_client = client._request_client
    request_client.__class__ = _PerThreadSdkMethod
    _read_environment_once(request_client._connection, endpoint)
    _remember_user(client)
    adapter = _RetryAfterAdapter(pool_connections=2, pool_maxsize=connections)
    for scheme in ("http://", "https://"):
        request_client._connection.mount(scheme, adapter)
    unwrapped: Callable[..., Any] | None = getattr(RequestClient.execute, "__wrapped__", None)
    if unwrapped is None:  # pragma: no cover - a future SDK without the retry decorator
        logger.warning("labelbox SDK: RequestClient.execute has no retry wrapper to bypass")
        return client

    @functools.wraps(unwrapped)
    def execute_once(*args: Any, **kwargs: Any) -> Any:
        kwargs["timeout"] = timeout  # Client.execute always passes its own 60 s
        _calling.retry_after = None
        try:
            return unwrapped(request_client, *args, **kwargs)
        except Exception as exc:
            asked = parse_retry_after(_calling.retry_after)
            if asked is not None:  # read by services.reporter.faults.retry_after
                setattr(exc, RETRY_AFTER, asked)
            raise
        finally:
            _calling.retry_after = None

    request_client.execute = execute_once
    return client


def _text(value: Any) -> str:
    return storable_text(str(value))


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _report(response: Mapping[str, Any]) -> ImportReport:
    return ImportReport(import_id=_text(response["id"]), name=_text(response["name"]),
                        state=_text(response["state"]),
                        progress=_optional_text(response.get("progress")),
                        status_file_url=_optional_text(response.get("statusFileUrl")))


def _row(value: Any) -> dict[str, Any]:
    """An export row as JSON PostgreSQL can store."""
    row = json.loads(value) if isinstance(value, str | bytes) else value
    if not isinstance(row, Mapping):
        raise UnreadableExportError(f"an export row is a JSON {type(row).__name__}, "
                                    "not an object")
    kept: dict[str, Any] = storable(row)
    return kept


def _unreadable(exc: ValueError | RecursionError) -> UnreadableExportError:
    if isinstance(exc, UnreadableExportError):
        return exc
    if isinstance(exc, RecursionError):
        return UnreadableExportError("an export row is nested too deeply to read")
    return UnreadableExportError(f"an export row is not JSON: {storable_text(str(exc))[:200]}")


def _status_line(line: str) -> dict[str, Any]:
    """One line of an import's status file; a line that cannot be read counts as a row
    that failed, saying why."""
    try:
        status = storable(json.loads(line))
    except (ValueError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else "not JSON"
        return {"status": "UNREADABLE", "errors": [{"message": f"status line {why}"}]}
    if not isinstance(status, dict):
        return {"status": "UNREADABLE", "errors": [{"message": "status line not an object"}]}
    return status


class SdkLabelbox:
    def __init__(self, client: labelbox.Client, timeout: float = 60.0) -> None:
        self._client = client
        self._timeout = timeout

    def _model_run(self, model_run_id: str) -> ModelRun:
        # Built locally: fetching it first (GetModelRunPyApi) would double every call.
        fields = dict.fromkeys(_model_run_fields())
        return ModelRun(self._client, {**fields, "id": model_run_id})

    def update_status(self, model_run_id: str, status: str, metadata: Mapping[str, str],
                      error_message: str | None) -> None:
        with _sdk_method("ModelRun:update_status"):
            self._model_run(model_run_id).update_status(
                status, metadata=dict(metadata) or None, error_message=error_message
            )

    def update_config(self, model_run_id: str, config: Mapping[str, Any]) -> None:
        with _sdk_method("ModelRun:update_config"):
            self._model_run(model_run_id).update_config(dict(config))

    def start_export(self, model_run_id: str, task_name: str) -> str:
        with _sdk_method("ModelRun:export"):
            task = self._model_run(model_run_id).export(task_name=task_name)
        return str(task.uid)

    def export_status(self, task_id: str) -> str:
        with _sdk_method("ExportTask:get_task"):
            return _text(ExportTask.get_task(self._client, task_id).status)

    def export_rows(self, task_id: str) -> list[dict[str, Any]]:
        with _sdk_method("ExportTask:get_buffered_stream"):
            task = ExportTask.get_task(self._client, task_id)
            if not task.has_result():
                return []
            try:  # the SDK parses each line itself (json.loads)
                return [_row(output.json) for output in task.get_buffered_stream()]
            except (ValueError, RecursionError) as exc:
                raise _unreadable(exc) from None

    def find_import(self, model_run_id: str, name: str) -> ImportReport | None:
        try:
            with _sdk_method("MEAPredictionImport:from_name"):
                response = MEAPredictionImport.from_name(self._client, model_run_id, name,
                                                         as_json=True)
        except ResourceNotFoundError:
            return None
        return _report(response) if response else None

    def create_import(self, model_run_id: str, name: str,
                      lines: Sequence[Mapping[str, Any]]) -> ImportReport:
        with _sdk_method("ModelRun:add_predictions"):
            created = self._model_run(model_run_id).add_predictions(
                name, [dict(x) for x in lines])
        return ImportReport(import_id=_text(created.uid), name=_text(created.name),
                            state=_text(created.state.value),
                            progress=_optional_text(created.progress),
                            status_file_url=_optional_text(created.status_file_url))

    def import_row_statuses(self, report: ImportReport) -> list[dict[str, Any]]:
        # Not ``MEAPredictionImport.statuses``: it GETs the file with no timeout at all.
        if not report.status_file_url:
            return []
        response = requests.get(report.status_file_url, timeout=self._timeout)
        response.raise_for_status()
        return [_status_line(line) for line in response.text.splitlines() if line.strip()]
