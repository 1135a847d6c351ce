"""Hash-chain verification for ``trainbridge verify`` (tamper evidence).

Migration 0006 chains each event to its stream's previous version: ``prev_hash`` is that
version's ``chain_hash`` and ``chain_hash = events_chain_hash(prev_hash, row)``, set by a
trigger; the audit log (``labelbox_calls``) is chained the same way per model run. Verifying
is one pass in the database (an index-ordered scan and a window): only the findings and the
counts come back, however long the log."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg


@dataclass(frozen=True)
class ChainFinding:
    """One thing ``trainbridge verify`` found wrong with a hash chain."""

    table: str
    """``events`` or ``labelbox_calls``."""
    chain: str
    """The stream id (events) or model run id (labelbox_calls)."""
    position: int
    """``stream_version`` or ``chain_seq`` of the row concerned."""
    row_id: int | None
    """``global_position`` or ``call_id`` of the row concerned (None when it is gone)."""
    kind: str
    """``altered``: the row's content no longer matches its stored hash. ``removed``: positions
    are missing before this row. ``broken_link``: the row's ``prev_hash`` is not its
    predecessor's hash (the predecessor was rewritten along with its hash). ``duplicate``:
    a position occurs twice. ``anchor``: an anchored head is gone or has another hash."""
    detail: str


@dataclass(frozen=True)
class ChainReport:
    table: str
    rows: int
    chains: int
    findings: tuple[ChainFinding, ...]


# ``{table}``, ``{chain}``, ``{position}``, ``{row_id}`` and ``{scope}`` are filled in from
# constants by the callers, never from input.
CHAIN_CHECK = """
WITH chained AS (
    SELECT t.{chain} AS chain, t.{position} AS position, t.{row_id} AS row_id,
           t.prev_hash, t.chain_hash,
           t.chain_hash IS DISTINCT FROM {table}_chain_hash(t.prev_hash, t) AS altered,
           lag(t.{position}) OVER w AS before_position,
           lag(t.chain_hash) OVER w AS before_hash
    FROM {table} t
    WHERE {scope}
    WINDOW w AS (PARTITION BY t.{chain} ORDER BY t.{position})
),
judged AS (
    SELECT *, array_remove(ARRAY[
               CASE WHEN altered THEN 'altered' END,
               CASE WHEN position > coalesce(before_position, 0) + 1 THEN 'removed' END,
               CASE WHEN position <= before_position THEN 'duplicate' END,
               CASE WHEN position = coalesce(before_position, 0) + 1
                         AND prev_hash IS DISTINCT FROM before_hash THEN 'broken_link' END
           ], NULL) AS kinds
    FROM chained
)
SELECT count(*) AS rows, count(*) FILTER (WHERE before_position IS NULL) AS chains,
       coalesce(jsonb_agg(jsonb_build_object(
           'chain', chain, 'position', position, 'row_id', row_id, 'kinds', kinds,
           'gap_from', coalesce(before_position, 0) + 1,
           'prev', encode(prev_hash, 'hex'), 'before', encode(before_hash, 'hex'))
           ORDER BY chain, position) FILTER (WHERE cardinality(kinds) > 0), '[]') AS findings
FROM judged
"""

CHAIN_HEADS = """
SELECT DISTINCT ON (t.{chain}) t.{chain} AS chain, t.{position} AS position,
       encode(t.chain_hash, 'hex') AS chain_hash
FROM {table} t WHERE {scope}
ORDER BY t.{chain}, t.{position} DESC
"""

CHAIN_ANCHOR_CHECK = """
SELECT a.chain, a.position, a.chain_hash AS anchored, t.{row_id} AS row_id,
       encode(t.chain_hash, 'hex') AS stored
FROM unnest($1::text[], $2::bigint[], $3::text[]) AS a(chain, position, chain_hash)
LEFT JOIN {table} t ON t.{chain} = a.chain AND t.{position} = a.position
WHERE t.chain_hash IS NULL OR encode(t.chain_hash, 'hex') <> a.chain_hash
ORDER BY a.chain
"""


@dataclass(frozen=True)
class ChainedTable:
    """Where a hash-chained table keeps its chain: the SQL above, filled in."""

    table: str
    chain: str
    position: str
    row_id: str
    scope: str
    """A condition on ``t`` and ``$1`` (the chain to check, or NULL for all)."""

    def sql(self, template: str) -> str:
        return template.format(
            table=self.table, chain=self.chain, position=self.position, row_id=self.row_id,
            scope=self.scope,
        )


EVENT_CHAIN = ChainedTable(
    "events", "stream_id", "stream_version", "global_position",
    scope="$1::text IS NULL OR t.stream_id = $1",
)


AUDIT_CHAIN = ChainedTable(
    "labelbox_calls", "model_run_id", "chain_seq", "call_id",
    scope="$1::text IS NULL OR t.model_run_id IN "
          "(SELECT s.model_run_id FROM labelbox_calls s WHERE s.stream_id = $1)",
)
"""The audit log's hash chains, one per model run (migration 0006): ``chain_seq`` numbers a
run's rows 1, 2, 3... and each row's ``chain_hash`` covers its content and the hash of the
run's previous row. Set by a trigger; ``trainbridge verify`` checks them. ``$1`` is a stream
id: the chains of the model runs with calls for that stream."""


def _describe(table: ChainedTable, found: dict[str, Any]) -> list[ChainFinding]:
    position: int = found["position"]
    noun = table.position
    findings = []
    for kind in found["kinds"]:
        if kind == "altered":
            detail = (f"{noun} {position}: its content does not match its stored hash "
                      "(the row was changed after it was written)")
        elif kind == "removed":
            first: int = found["gap_from"]
            missing = str(first) if first == position - 1 else f"{first}..{position - 1}"
            detail = f"{noun} {missing} missing before {position} (removed)"
        elif kind == "duplicate":
            detail = f"{noun} {position} occurs more than once"
        else:
            detail = (f"{noun} {position}: its prev_hash ({str(found['prev'])[:16]}...) is not "
                      f"the hash of {noun} {position - 1} ({str(found['before'])[:16]}...): "
                      f"{position - 1} was rewritten together with its hash, or replaced")
        findings.append(ChainFinding(
            table.table, found["chain"], position, found["row_id"], kind, detail))
    return findings


async def check_chain(
    connection: asyncpg.Connection, table: ChainedTable, chain: str | None
) -> ChainReport:
    """Recompute ``table``'s hash chains (all, or ``chain``'s) and report what is wrong."""
    row = await connection.fetchrow(table.sql(CHAIN_CHECK), chain)
    assert row is not None
    findings = row["findings"]
    if isinstance(findings, str):  # a connection without the pool's jsonb codec
        findings = json.loads(findings)
    return ChainReport(
        table.table, row["rows"], row["chains"],
        tuple(finding for found in findings for finding in _describe(table, found)),
    )


async def chain_heads(
    connection: asyncpg.Connection, table: ChainedTable, chain: str | None
) -> dict[str, tuple[int, str]]:
    """Each chain's last position and hash (hex): what an operator records as an anchor."""
    rows = await connection.fetch(table.sql(CHAIN_HEADS), chain)
    return {r["chain"]: (r["position"], r["chain_hash"]) for r in rows}


async def check_anchor(
    connection: asyncpg.Connection, table: ChainedTable, heads: dict[str, tuple[int, str]]
) -> tuple[ChainFinding, ...]:
    """Anchored heads that are gone or have another hash now."""
    chains = sorted(heads)
    rows = await connection.fetch(
        table.sql(CHAIN_ANCHOR_CHECK), chains, [heads[c][0] for c in chains],
        [heads[c][1] for c in chains],
    )
    return tuple(
        ChainFinding(
            table.table, r["chain"], r["position"], r["row_id"], "anchor",
            f"anchored {table.position} {r['position']} "
            + ("is gone (removed)" if r["stored"] is None else
               f"has hash {r['stored'][:16]}..., anchored {r['anchored'][:16]}...")
            + ": rows were removed or the chain was recomputed since the anchor was taken",
        )
        for r in rows
    )
