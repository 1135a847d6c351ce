"""The demo's client: plays Labelbox's part of a "Train Model" click against a running stack.

It sends ingest a correctly signed ``POST /model_run`` (``X-Hub-Signature: sha1=<hex
HMAC-SHA1(secret, raw body)>``, as Labelbox does), then polls the fake Labelbox's control API
(``GET /_fake/model-runs/<id>``) until the run's last status is ``COMPLETE`` or ``FAILED``, and
prints the status history the reporter delivered::

    python -m fake_labelbox.demo_client --ingest http://ingest:8000 \\
        --fake http://fake-labelbox:8081 --secret "$TRAINBRIDGE_WEBHOOK_SECRET" --model-run demo-run

Ingest answers ``422`` (naming ``modelType``) until a trainer has announced its model types,
and ``503`` while PostgreSQL is unreachable: both are retried until ``--accept-timeout``.
Only the standard library and httpx (in the ``fake-labelbox`` extra) are used."""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

TEXT_CLASSIFICATION = "text_single_classification"
DEFAULT_MODEL_ID = "model-1"
"""The model id the fake's auto-created runs carry in their export rows."""
TERMINAL_STATUSES = frozenset({"COMPLETE", "FAILED"})
RETRYABLE_ANSWERS = frozenset({422, 503})
"""422: the trainer has not announced the model type yet; 503: the database is away."""


class DemoError(RuntimeError):
    """The demo did not get where it was going; the message says how far it got."""


class NotAcceptedError(DemoError):
    def __init__(self, message: str, response: httpx.Response | None) -> None:
        super().__init__(message)
        self.response = response


class NotTerminalError(DemoError, TimeoutError):
    def __init__(self, message: str, statuses: list[str]) -> None:
        super().__init__(message)
        self.statuses = statuses


def signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature`` value Labelbox sends for ``body``."""
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def model_run_body(model_run_id: str, model_type: str, model_id: str) -> bytes:
    return json.dumps(
        {"modelRunId": model_run_id, "modelType": model_type, "modelId": model_id},
        separators=(",", ":"),
    ).encode()


def _client(client: httpx.Client | None, timeout: float) -> tuple[httpx.Client, bool]:
    return (client, False) if client is not None else (httpx.Client(timeout=timeout), True)


def send_signed_run(
    ingest_url: str,
    secret: str,
    model_run_id: str,
    model_type: str,
    model_id: str,
    *,
    client: httpx.Client | None = None,
    timeout: float = 10.0,
) -> httpx.Response:
    """One signed ``POST <ingest_url>/model_run``; the answer, whatever it is."""
    body = model_run_body(model_run_id, model_type, model_id)
    headers = {"Content-Type": "application/json", "X-Hub-Signature": signature(secret, body)}
    http, owned = _client(client, timeout)
    try:
        return http.post(f"{ingest_url.rstrip('/')}/model_run", content=body, headers=headers)
    finally:
        if owned:
            http.close()


def send_until_accepted(
    ingest_url: str,
    secret: str,
    model_run_id: str,
    model_type: str,
    model_id: str,
    *,
    timeout: float = 120.0,
    interval: float = 2.0,
    client: httpx.Client | None = None,
    log: Callable[[str], None] = print,
) -> httpx.Response:
    """Sends the run until ingest takes it (``202``, or ``200`` for a run it already has),
    retrying ``422``/``503`` answers and connection errors for ``timeout`` seconds."""
    http, owned = _client(client, 10.0)
    deadline = time.monotonic() + timeout
    last: httpx.Response | None = None
    try:
        while True:
            problem: str
            try:
                last = send_signed_run(ingest_url, secret, model_run_id, model_type, model_id,
                                       client=http)
            except httpx.TransportError as exc:
                problem = f"ingest unreachable ({type(exc).__name__})"
            else:
                if last.is_success:
                    return last
                if last.status_code not in RETRYABLE_ANSWERS:
                    raise NotAcceptedError(
                        f"ingest refused the run: {last.status_code} {last.text}", last)
                problem = f"{last.status_code} {last.text}"
            if time.monotonic() + interval > deadline:
                raise NotAcceptedError(
                    f"ingest did not accept the run within {timeout:g}s: {problem}", last)
            log(f"waiting for ingest to accept {model_type!r}: {problem}")
            time.sleep(interval)
    finally:
        if owned:
            http.close()


def wait_for_terminal(
    fake_url: str,
    model_run_id: str,
    timeout: float,
    *,
    interval: float = 1.0,
    client: httpx.Client | None = None,
    on_status: Callable[[dict[str, Any]], None] | None = None,
) -> list[str]:
    """Polls the fake's ``GET /_fake/model-runs/<id>`` until the run's last status is
    ``COMPLETE`` or ``FAILED``; the status history. A run the fake does not know yet
    (``404``: the reporter has not called it), other errors and lost connections are waited
    out.
    ``on_status`` sees each status update once, in order."""
    http, owned = _client(client, 10.0)
    url = f"{fake_url.rstrip('/')}/_fake/model-runs/{model_run_id}"
    deadline = time.monotonic() + timeout
    seen = 0
    statuses: list[str] = []
    try:
        while True:
            try:
                response = http.get(url)
            except httpx.TransportError:
                response = None
            if response is not None and response.is_success:
                updates: list[dict[str, Any]] = response.json().get("statuses") or []
                for update in updates[seen:]:
                    if on_status is not None:
                        on_status(update)
                seen = max(seen, len(updates))
                statuses = [str(u.get("status")) for u in updates]
                if statuses and statuses[-1] in TERMINAL_STATUSES:
                    return statuses
            if time.monotonic() + interval > deadline:
                raise NotTerminalError(
                    f"model run {model_run_id} did not finish within {timeout:g}s "
                    f"(statuses so far: {', '.join(statuses) or 'none'})", statuses)
            time.sleep(interval)
    finally:
        if owned:
            http.close()


def _print_status(update: dict[str, Any]) -> None:
    line = f"  {update.get('at', '')}  {update.get('status')}"
    if update.get("error_message"):
        line += f"  error: {update['error_message']}"
    print(line, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fake_labelbox.demo_client",
        description="Send ingest a signed POST /model_run as Labelbox would, then follow "
                    "the run at the fake Labelbox until it is COMPLETE or FAILED.",
    )
    parser.add_argument("--ingest", default="http://127.0.0.1:8000",
                        help="ingest's base URL (default: %(default)s)")
    parser.add_argument("--fake", default="http://127.0.0.1:8081",
                        help="the fake Labelbox's base URL (default: %(default)s)")
    parser.add_argument("--secret", default=None,
                        help="the webhook secret (default: the first of "
                             "TRAINBRIDGE_WEBHOOK_SECRET)")
    parser.add_argument("--model-run", default=None, metavar="ID",
                        help="the modelRunId (default: demo-<UTC timestamp>, new every time)")
    parser.add_argument("--model-type", default=TEXT_CLASSIFICATION,
                        help="the modelType (default: %(default)s)")
    parser.add_argument("--model-id", default=DEFAULT_MODEL_ID,
                        help="the modelId (default: %(default)s, the fake's sample rows)")
    parser.add_argument("--accept-timeout", type=float, default=180.0, metavar="SECONDS",
                        help="how long to retry 422/503 answers (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS",
                        help="how long to wait for COMPLETE or FAILED (default: %(default)s)")
    parser.add_argument("--interval", type=float, default=2.0, metavar="SECONDS",
                        help="between retries and polls (default: %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    secret = args.secret
    if secret is None:
        configured = os.environ.get("TRAINBRIDGE_WEBHOOK_SECRET", "").split(",")[0].strip()
        secret = configured or None
    if not secret:
        print("demo_client: give --secret or set TRAINBRIDGE_WEBHOOK_SECRET", file=sys.stderr)
        return 2
    model_run_id = args.model_run or f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    print(f"POST {args.ingest}/model_run  modelRunId={model_run_id} "
          f"modelType={args.model_type}", flush=True)

    def log(message: str) -> None:
        print(f"  {message}", flush=True)

    try:
        with httpx.Client(timeout=10.0) as http:
            accepted = send_until_accepted(
                args.ingest, secret, model_run_id, args.model_type, args.model_id,
                timeout=args.accept_timeout, interval=args.interval, client=http, log=log,
            )
            print(f"ingest answered {accepted.status_code} {accepted.text}", flush=True)
            print(f"status history at {args.fake}/_fake/model-runs/{model_run_id}:",
                  flush=True)
            statuses = wait_for_terminal(args.fake, model_run_id, args.timeout,
                                         interval=args.interval, client=http,
                                         on_status=_print_status)
    except DemoError as exc:
        print(f"demo_client: {exc}", file=sys.stderr)
        if isinstance(exc, NotTerminalError) and not exc.statuses:
            print("demo_client: (a modelRunId that Trainbridge already finished earlier is "
                  "not reported again: pick another --model-run)", file=sys.stderr)
        return 1
    print(f"model run {model_run_id}: {' -> '.join(statuses)}", flush=True)
    return 0 if statuses[-1] == "COMPLETE" else 1


if __name__ == "__main__":
    sys.exit(main())
