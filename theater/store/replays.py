"""Replay outcomes: the ``replays`` table, how each replay of a chain ended."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..canonical import canonical_json
from ..outcomes import ReplayOutcome
from .connection import REPLAYS_SCHEMA, Connection, _text, store_error
from .rows import _int, _loads


@dataclass(frozen=True)
class ReplayRecord:
    """A row of the replays table: one replay of ``source`` and how it ended.

    ``chain`` is the replay chain, or None when the replay stored no chain of its own."""

    id: int
    source: str
    chain: str | None
    outcome: str
    seq: int | None
    kind: str | None
    report: Any
    component_sha256: str | None
    created: float

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "chain": self.chain, "outcome": self.outcome,
                "seq": self.seq, "kind": self.kind, "component_sha256": self.component_sha256,
                "created": self.created}


class ReplayLog(Connection):
    """The queries of the replays table."""

    def has_replays_table(self) -> bool:
        row = self.reader.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'replays'").fetchone()
        return bool(row[0])

    def record_replay(
        self,
        source: str,
        outcome: ReplayOutcome,
        *,
        chain: str | None,
        seq: int | None = None,
        kind: str | None = None,
        report: Any = None,
        component_sha256: str | None = None,
    ) -> int:
        """Store how one replay of ``source`` ended; returns the row id.

        ``chain`` is the replay chain, or None for a replay that stored none. ``report``
        (JSON-serializable) is kept whole: the divergence report, or the error. Creates
        the replays table in a database made before it existed (a new one has it from
        its schema)."""
        body = None if report is None else canonical_json(report).decode()
        try:
            with self.transaction() as conn:
                if not self.has_replays_table():  # inside the transaction: reads join it
                    for stmt in REPLAYS_SCHEMA.split(";"):
                        if stmt.strip():
                            conn.execute(stmt)
                cur = conn.execute(
                    "INSERT INTO replays (source, chain, outcome, seq, kind, report, component_sha256, created)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (source, chain, str(ReplayOutcome(outcome)), seq, kind, body, component_sha256, time.time()),
                )
        except sqlite3.Error as e:
            raise store_error(e, f"cannot write to {self.path}") from e
        return int(cur.lastrowid or 0)

    def record_replays(self, outcomes: Sequence[dict[str, Any]]) -> None:
        """Store many replay outcomes in one transaction (``replay --all``, one per
        batch of results): each a dict of :meth:`record_replay`'s arguments (``source``,
        ``outcome``, ``chain``, ``seq``, ``kind``, ``report``, ``component_sha256``).
        All are stored or none."""
        now = time.time()
        values = [(o["source"], o.get("chain"), str(ReplayOutcome(o["outcome"])), o.get("seq"), o.get("kind"),
                   None if o.get("report") is None else canonical_json(o["report"]).decode(),
                   o.get("component_sha256"), now) for o in outcomes]
        try:
            with self.transaction() as conn:
                if not self.has_replays_table():
                    for stmt in REPLAYS_SCHEMA.split(";"):
                        if stmt.strip():
                            conn.execute(stmt)
                conn.executemany(
                    "INSERT INTO replays (source, chain, outcome, seq, kind, report, component_sha256, created)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", values)
        except sqlite3.Error as e:
            raise store_error(e, f"cannot write to {self.path}") from e

    _REPLAY_COLS = "id, source, chain, outcome, seq, kind, report, component_sha256, created"

    def replays(self, source: str | None = None) -> list[ReplayRecord]:
        """Every stored replay outcome (of ``source`` only, when given), oldest first."""
        if not self.has_replays_table():
            return []
        sql = f"SELECT {self._REPLAY_COLS} FROM replays"
        rows = (self.reader.execute(sql + " ORDER BY id") if source is None else
                self.reader.execute(sql + " WHERE source = ? ORDER BY id", (source,)))
        return [_replay_record(r) for r in rows.fetchall()]

    def replay_outcomes(self) -> tuple[dict[str, ReplayRecord], dict[str, ReplayRecord]]:
        """``(by_chain, latest_by_source)``: the outcome of each replay chain, and each
        recording's latest replay outcome (one read of the replays table)."""
        by_chain: dict[str, ReplayRecord] = {}
        latest: dict[str, ReplayRecord] = {}
        for r in self.replays():  # oldest first: later rows win
            if r.chain is not None:
                by_chain[r.chain] = r
            latest[r.source] = r
        return by_chain, latest


def _replay_record(row: tuple[Any, ...]) -> ReplayRecord:
    """A replays row; like ``_chain_info``, a value of the wrong type reads as empty."""
    report = _loads(row[6].encode()) if isinstance(row[6], str) else None
    created = row[8]
    return ReplayRecord(
        id=_int(row[0]) or 0,
        source=_text(row[1]) or "",
        chain=_text(row[2]),
        outcome=_text(row[3]) or "",
        seq=_int(row[4]),
        kind=_text(row[5]),
        report=report,
        component_sha256=_text(row[7]),
        created=float(created) if isinstance(created, (int, float)) and abs(created) < 1e11 else 0.0,
    )
