"""``trainbridge verify``: recompute the hash chains of ``events`` (per stream) and
``labelbox_calls`` (per model run) and report every row that was altered or removed behind
the append-only triggers' back (see migration 0006 and docs/architecture.md, "Tamper
evidence")."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC
from typing import Any, TextIO

import asyncpg

from eventlog.postgres import translated_errors, translated_refusals
from eventlog.settings import DatabaseSettings, asyncpg_dsn
from trainbridge.chains import (
    AUDIT_CHAIN,
    EVENT_CHAIN,
    ChainedTable,
    ChainFinding,
    ChainReport,
    chain_heads,
    check_anchor,
    check_chain,
)

TABLES: tuple[ChainedTable, ...] = (EVENT_CHAIN, AUDIT_CHAIN)
_CHAIN_NOUN = {"events": "stream", "labelbox_calls": "model run"}
ANCHOR_FORMAT = "trainbridge-chain-anchor/1"


class AnchorError(ValueError):
    """The anchor file is not one ``trainbridge verify --print-anchor`` wrote."""


@dataclass(frozen=True)
class Verification:
    reports: tuple[ChainReport, ...]
    anchor_findings: tuple[ChainFinding, ...] = ()
    anchor_heads: int = 0

    @property
    def findings(self) -> tuple[ChainFinding, ...]:
        return tuple(f for r in self.reports for f in r.findings) + self.anchor_findings

    @property
    def intact(self) -> bool:
        return not self.findings

    def as_json(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "tables": {
                r.table: {"rows": r.rows, "chains": r.chains,
                          "findings": [asdict(f) for f in r.findings]}
                for r in self.reports
            },
            "anchor": {"heads": self.anchor_heads,
                       "findings": [asdict(f) for f in self.anchor_findings]},
        }


def parse_anchor(text: str) -> dict[str, dict[str, tuple[int, str]]]:
    try:
        document = json.loads(text)
        if document.get("format") != ANCHOR_FORMAT:
            raise AnchorError(f"not a {ANCHOR_FORMAT} document")
        return {
            table.table: {
                chain: (int(head["position"]), str(head["chain_hash"]))
                for chain, head in document.get(table.table, {}).items()
            }
            for table in TABLES
        }
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise AnchorError(f"unreadable anchor: {exc}") from exc


async def _connect(database: DatabaseSettings) -> asyncpg.Connection:
    async with translated_errors(), translated_refusals(database.url):
        connection: asyncpg.Connection = await asyncpg.connect(asyncpg_dsn(database.url))
    return connection


async def verify(
    database: DatabaseSettings,
    stream: str | None = None,
    anchor: Mapping[str, Mapping[str, tuple[int, str]]] | None = None,
) -> Verification:
    """Check every chain (or only ``stream``'s and its model runs') in one snapshot."""
    connection = await _connect(database)
    try:
        async with (
            translated_errors(),
            translated_refusals(database.url),
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            reports = tuple([await check_chain(connection, t, stream) for t in TABLES])
            anchored: list[ChainFinding] = []
            heads = 0
            for table in TABLES:
                wanted = dict((anchor or {}).get(table.table, {}))
                if stream is not None and table is EVENT_CHAIN:
                    wanted = {c: h for c, h in wanted.items() if c == stream}
                heads += len(wanted)
                if wanted:
                    anchored.extend(await check_anchor(connection, table, wanted))
    finally:
        await connection.close()
    return Verification(reports, tuple(anchored), heads)


async def anchor_document(database: DatabaseSettings, stream: str | None = None) -> dict[str, Any]:
    """Every chain's head (last position and hash) now: record it outside the database."""
    connection = await _connect(database)
    try:
        async with (
            translated_errors(),
            translated_refusals(database.url),
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            taken_at = await connection.fetchval("SELECT now()")
            document: dict[str, Any] = {
                "format": ANCHOR_FORMAT,
                "taken_at": taken_at.astimezone(UTC).isoformat(),
            }
            for table in TABLES:
                heads = await chain_heads(connection, table, stream)
                document[table.table] = {
                    chain: {"position": position, "chain_hash": digest}
                    for chain, (position, digest) in heads.items()
                }
    finally:
        await connection.close()
    return document


def print_report(result: Verification, out: TextIO) -> None:
    for report in result.reports:
        noun = _CHAIN_NOUN.get(report.table, "chain")
        state = "intact" if not report.findings else f"{len(report.findings)} problem(s)"
        print(f"{report.table}: {report.rows:,} rows in {report.chains:,} "
              f"{noun}{'' if report.chains == 1 else 's'} checked: {state}", file=out)
        for finding in report.findings:
            _print_finding(finding, noun, out)
    if result.anchor_heads:
        state = ("intact" if not result.anchor_findings
                 else f"{len(result.anchor_findings)} problem(s)")
        print(f"anchor: {result.anchor_heads:,} anchored heads checked: {state}", file=out)
        for finding in result.anchor_findings:
            _print_finding(finding, _CHAIN_NOUN.get(finding.table, "chain"), out)
    if result.intact:
        print("OK: every hash chain is intact", file=out)
    else:
        print(f"TAMPERED: {len(result.findings)} problem(s) found: rows were changed or "
              "removed outside Trainbridge (bypassing the append-only triggers)", file=out)


def _print_finding(finding: ChainFinding, noun: str, out: TextIO) -> None:
    row = "" if finding.row_id is None else f" [row {finding.row_id}]"
    print(f"  {finding.kind.upper():<12} {finding.table} {noun} {finding.chain!r}{row}: "
          f"{finding.detail}", file=out)
