"""Operator commands: ``trainbridge runs``, ``trainbridge audit <modelRunId>`` and
``trainbridge parked``. All their SQL lives in this module; it reads the audit views of
migration 0005 (``model_runs``, ``run_timeline``, ``labelbox_delivery_problems``).

Each command prints a table for people by default and JSON (``--json``) for scripts;
``runs --watch`` and ``audit --follow`` keep printing until the runs they show have ended."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from eventlog.contract import (
    DATA_EXPORTED,
    MODEL_EVALUATED,
    PREDICTIONS_PRODUCED,
    STAGE_STARTED,
    TRAINING_FAILED,
    TRAINING_PROGRESSED,
    TRAINING_REQUESTED,
)
from eventlog.postgres import pooled, translated_errors
from eventlog.settings import DatabaseSettings

STATUSES = ("COMPLETE", "FAILED", "IN_PROGRESS")
DEFAULT_LIMIT = 50

_RUN_COLUMNS = """
model_run_id, model_type, latest_attempt, status, labelbox_status, labelbox_status_at,
current_stage, requested_at, started_at, finished_at, duration_seconds, last_event_type,
last_event_at, last_error, failed_stage, parked_deliveries
"""

_RUN = f"SELECT {_RUN_COLUMNS} FROM model_runs WHERE model_run_id = $1"

_TIMELINE = """
SELECT at, source, kind, attempt, outcome, detail, seq FROM run_timeline
WHERE model_run_id = $1 ORDER BY at, source, seq
"""

_PARKED = """
SELECT model_run_id, delivery_key, action, problem AS state, at AS since, redrives,
       sdk_method, error_type, error
FROM labelbox_delivery_problems WHERE source = 'delivery' ORDER BY at, model_run_id
"""


class UnknownModelRunError(Exception):
    """No model run with this id in the event log."""


@dataclass(frozen=True)
class RunFilter:
    status: str | None = None
    model_type: str | None = None
    since: datetime | None = None
    limit: int = DEFAULT_LIMIT


def runs_query(where: RunFilter) -> tuple[str, list[Any]]:
    """The newest runs first; only the conditions asked for are in the statement, so the
    planner walks the ``requested_at`` index and stops after ``limit`` rows."""
    conditions: list[str] = []
    args: list[Any] = []
    for column, operator, value in (("status", "=", where.status),
                                    ("model_type", "=", where.model_type),
                                    ("requested_at", ">=", where.since)):
        if value is not None:
            args.append(value)
            conditions.append(f"{column} {operator} ${len(args)}")
    args.append(where.limit)
    sql = (f"SELECT {_RUN_COLUMNS} FROM model_runs"
           + (" WHERE " + " AND ".join(conditions) if conditions else "")
           + f" ORDER BY requested_at DESC, model_run_id DESC LIMIT ${len(args)}")
    return sql, args


async def list_runs(db: asyncpg.Pool | asyncpg.Connection, where: RunFilter
                    ) -> list[dict[str, Any]]:
    sql, args = runs_query(where)
    return [dict(r) for r in await db.fetch(sql, *args)]


async def run_audit(db: asyncpg.Pool | asyncpg.Connection, model_run_id: str
                    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The run's current state and its timeline (events and Labelbox calls in time order)."""
    run = await db.fetchrow(_RUN, model_run_id)
    if run is None:
        raise UnknownModelRunError(f"no model run {model_run_id!r} in the event log")
    timeline = [dict(r) for r in await db.fetch(_TIMELINE, model_run_id)]
    return dict(run), timeline


async def database_now(db: asyncpg.Pool | asyncpg.Connection) -> datetime:
    """The database's clock, which ``requested_at`` is measured by."""
    now: datetime = await db.fetchval("SELECT now()")
    return now


async def parked_deliveries(db: asyncpg.Pool | asyncpg.Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in await db.fetch(_PARKED)]


# ---------------------------------------------------------------- arguments

_AGO = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 date or time (UTC unless it says otherwise), or an age such as ``24h``."""
    ago = _AGO.match(text.strip())
    if ago:
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[ago[2]]: int(ago[1])})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--since {text!r}: give an ISO 8601 time (2026-11-28 or "
                         "2026-11-28T09:00:00+01:00) or an age (30m, 24h, 7d)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_status(text: str) -> str:
    status = text.strip().upper().replace("-", "_")
    if status not in STATUSES:
        raise ValueError(f"--status {text!r}: one of {', '.join(s.lower() for s in STATUSES)}")
    return status


# ---------------------------------------------------------------- output


def to_json(value: Any) -> str:
    def default(item: Any) -> Any:
        if isinstance(item, datetime):
            return item.isoformat()
        if isinstance(item, Decimal):
            return float(item)
        raise TypeError(f"not JSON serialisable: {type(item).__name__}")

    return json.dumps(value, default=default, indent=2)


def _time(moment: datetime | None, *, millis: bool = False) -> str:
    if moment is None:
        return "-"
    text = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f" if millis
                                           else "%Y-%m-%d %H:%M:%S")
    return (text[:-3] if millis else text) + "Z"


def duration(seconds: Decimal | float | None) -> str:
    if seconds is None:
        return "-"
    value = float(seconds)
    if value < 60:
        return f"{value:.1f}s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *,
          widest: int = 60) -> str:
    """Left-aligned columns; the last column is never padded or clipped."""
    clipped = [[_clip(c, widest) if i < len(headers) - 1 else c for i, c in enumerate(r)]
               for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in clipped]) for i, h in enumerate(headers)]
    lines = [list(headers), *clipped]
    return "".join(("  ".join(c.ljust(w) for c, w in zip(line[:-1], widths, strict=False))
                    + "  " + line[-1]).rstrip() + "\n" for line in lines)


def render_runs(runs: Sequence[Mapping[str, Any]]) -> str:
    if not runs:
        return "no model runs match\n"
    rows = [[r["model_run_id"], r["model_type"] or "-", str(r["latest_attempt"]),
             r["status"], r["labelbox_status"] or "-", r["current_stage"] or "-",
             _time(r["requested_at"]), duration(r["duration_seconds"]),
             str(r["parked_deliveries"]), _clip(r["last_error"] or "", 60)] for r in runs]
    return table(["MODEL RUN", "MODEL TYPE", "ATTEMPT", "STATUS", "LABELBOX", "STAGE",
                  "REQUESTED (UTC)", "DURATION", "PARKED", "ERROR"], rows)


def _pairs(values: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items())


def _event_summary(kind: str, data: Mapping[str, Any]) -> str:
    if kind == TRAINING_REQUESTED:
        retry = data.get("retry") or {}
        text = f"{data.get('modelType', '')}"
        if retry:
            text += f" (retry by {retry.get('requestedBy')}: {retry.get('reason')})"
        return text
    if kind == DATA_EXPORTED:
        return f"{data.get('rows')} rows, {data.get('labels')} labels"
    if kind == STAGE_STARTED:
        return f"{data.get('stage')} {_pairs(data.get('metadata') or {})}".strip()
    if kind == TRAINING_PROGRESSED:
        return f"{data.get('unit')} {data.get('step')} of {data.get('total')}"
    if kind == MODEL_EVALUATED:
        metrics = data.get("metrics") or {}
        scores = metrics.get("scores") or {
            k: metrics[k] for k in ("accuracy", "macro_f1") if k in metrics}
        return _pairs({k: round(v, 4) if isinstance(v, float) else v for k, v in scores.items()})
    if kind == PREDICTIONS_PRODUCED:
        return f"{data.get('count')} predictions"
    if kind == TRAINING_FAILED:
        return f"{data.get('stage')}: {data.get('message')}"
    return ""


def _call_summary(detail: Mapping[str, Any]) -> str:
    request = detail.get("request") or {}
    parts = [str(detail.get("action", ""))]
    if request.get("status"):
        parts.append(str(request["status"]))
    if detail.get("try", 1) != 1:
        parts.append(f"try {detail['try']}")
    if "duration_ms" in detail:
        parts.append(f"{float(detail['duration_ms']):.0f} ms")
    if detail.get("error_type") or detail.get("error"):
        parts.append(f"{detail.get('error_type')}: {detail.get('error')}")
    return " ".join(parts)


def _audit_head(run: Mapping[str, Any]) -> str:
    head = (f"model run {run['model_run_id']} ({run['model_type']}): {run['status']}, "
            f"attempt {run['latest_attempt']}, Labelbox shows "
            f"{run['labelbox_status'] or 'nothing yet'}, requested {_time(run['requested_at'])}"
            f", took {duration(run['duration_seconds'])}, "
            f"{run['parked_deliveries']} parked deliveries")
    if run["last_error"]:
        head += f"\nlast error: {run['last_error']}"
    return head


def _timeline_rows(timeline: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    return [[_time(t["at"], millis=True), t["source"], t["kind"], str(t["attempt"]),
             t["outcome"] or "",
             _event_summary(t["kind"], t["detail"]) if t["source"] == "event"
             else _call_summary(t["detail"])] for t in timeline]


_TIMELINE_HEADERS = ["AT (UTC)", "SOURCE", "KIND", "ATTEMPT", "OUTCOME", "DETAIL"]


def render_audit(run: Mapping[str, Any], timeline: Sequence[Mapping[str, Any]]) -> str:
    return _audit_head(run) + "\n\n" + table(_TIMELINE_HEADERS, _timeline_rows(timeline))


def render_new_entries(timeline: Sequence[Mapping[str, Any]]) -> str:
    """Timeline entries that appeared since the last print, as rows without a header."""
    return "".join(table(_TIMELINE_HEADERS, _timeline_rows(timeline)).splitlines(True)[1:])


def render_parked(parked: Sequence[Mapping[str, Any]]) -> str:
    if not parked:
        return "no deliveries are waiting for an operator\n"
    rows = [[p["model_run_id"], p["delivery_key"], p["state"], _time(p["since"]),
             str(p["redrives"]), p["sdk_method"] or "-", p["error"] or ""] for p in parked]
    return (table(["MODEL RUN", "DELIVERY", "STATE", "SINCE (UTC)", "REDRIVES",
                   "LAST CALL", "ERROR"], rows)
            + f"\n{len(parked)} deliveries waiting; retry with `trainbridge redrive "
              "[--model-run ID]`\n")


# ---------------------------------------------------------------- commands



async def runs_command(database: DatabaseSettings, where: RunFilter, *, as_json: bool) -> str:
    async with pooled(database) as pool, translated_errors(pool):
        runs = await list_runs(pool, where)
    return to_json(runs) + "\n" if as_json else render_runs(runs)


async def audit_command(database: DatabaseSettings, model_run_id: str, *, as_json: bool
                        ) -> str:
    async with pooled(database) as pool, translated_errors(pool):
        run, timeline = await run_audit(pool, model_run_id)
    if as_json:
        return to_json({"run": run, "timeline": timeline}) + "\n"
    return render_audit(run, timeline)


async def parked_command(database: DatabaseSettings, *, as_json: bool) -> str:
    async with pooled(database) as pool, translated_errors(pool):
        parked = await parked_deliveries(pool)
    return to_json(parked) + "\n" if as_json else render_parked(parked)


# ---------------------------------------------------------------- watching


def ended(run: Mapping[str, Any]) -> bool:
    return run["status"] in ("COMPLETE", "FAILED")


def redrawn(text: str, *, terminal: bool, first: bool) -> str:
    """One refresh of ``runs --watch``: on a terminal it redraws the screen in place (cursor
    home, clear screen); elsewhere refreshes follow each other, a blank line apart."""
    if terminal:
        return "\x1b[H\x1b[2J" + text
    return text if first else "\n" + text


async def watch_runs(database: DatabaseSettings, where: RunFilter, *, interval: float,
                     write: Callable[[str], None], terminal: bool,
                     sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
    """Print the runs table every ``interval`` seconds until every run it lists has ended
    (COMPLETE or FAILED); the last table printed shows them ended."""
    async with pooled(database) as pool, translated_errors(pool):
        first = True
        while True:
            runs = await list_runs(pool, where)
            write(redrawn(render_runs(runs), terminal=terminal, first=first))
            if all(ended(r) for r in runs):
                return
            first = False
            await sleep(interval)


async def follow_audit(database: DatabaseSettings, model_run_id: str, *, interval: float,
                       write: Callable[[str], None],
                       sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
    """Print the run's audit, then each new timeline entry as it appears (looking every
    ``interval`` seconds) until the run has ended; then one line with its final state."""
    async with pooled(database) as pool, translated_errors(pool):
        run, timeline = await run_audit(pool, model_run_id)
        write(render_audit(run, timeline))
        seen = {(t["source"], t["seq"]) for t in timeline}
        while not ended(run):
            await sleep(interval)
            run, timeline = await run_audit(pool, model_run_id)
            new = [t for t in timeline if (t["source"], t["seq"]) not in seen]
            seen |= {(t["source"], t["seq"]) for t in new}
            if new:
                write(render_new_entries(new))
        write("\n" + _audit_head(run) + "\n")
