"""Housekeeping: removing chains, and the components and blobs no chain uses.

``theater rm`` and ``theater gc`` (theater/commands/housekeeping.py). A chain may be
named by others: a replay's ``replay_of``, a fork's header ``fork_of``, a run's
``run_chains`` rows (a child's ``parent``, and the chains of one run, whose events
link to each other). :meth:`Housekeeping.links_to` lists those links, and
:meth:`Housekeeping.remove_chains` removes chains with all their rows in one
transaction (all of them or none).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from ..blobs import refs
from .connection import Connection, store_error

__all__ = ["Freed", "Housekeeping", "Link"]


@dataclass(frozen=True, kw_only=True)
class Link:
    """Chain ``source`` names chain ``target`` (``how``: replay_of, fork_of, parent, run)."""

    source: str
    target: str
    how: str

    def describe(self) -> str:
        what = {"replay_of": "is a replay of it", "fork_of": "is a fork of it",
                "parent": "is a child of it in a run", "run": "is in the same run"}[self.how]
        return f"{self.source} {what}"

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "how": self.how}


@dataclass(frozen=True, kw_only=True)
class Freed:
    """What :meth:`Housekeeping.collect_garbage` removed (or would, with ``dry_run``)."""

    components: tuple[str, ...]
    component_bytes: int
    blobs: int
    blob_bytes: int
    dry_run: bool

    def to_json(self) -> dict[str, Any]:
        return {"components": list(self.components), "component_bytes": self.component_bytes,
                "blobs": self.blobs, "blob_bytes": self.blob_bytes, "dry_run": self.dry_run}


def _has(conn: sqlite3.Connection, table: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone() \
        is not None


class Housekeeping(Connection):
    """The queries of ``theater rm`` and ``theater gc``."""

    def links_to(self, chain_ids: Iterable[str]) -> list[Link]:
        """Every link from a chain outside ``chain_ids`` to one inside, by chain order."""
        targets = set(chain_ids)
        conn = self.reader
        out: list[Link] = []
        try:
            for cid, replay_of, header in conn.execute(
                    "SELECT id, replay_of, header FROM chains ORDER BY created, rowid"):
                if cid in targets:
                    continue
                if replay_of in targets:
                    out.append(Link(source=cid, target=replay_of, how="replay_of"))
                try:
                    h = orjson.loads(bytes(header)) if b"fork_of" in bytes(header) else None
                except orjson.JSONDecodeError:
                    h = None
                fork = h.get("fork_of") if isinstance(h, dict) else None
                if isinstance(fork, dict) and fork.get("chain") in targets:
                    out.append(Link(source=cid, target=str(fork["chain"]), how="fork_of"))
            if _has(conn, "run_chains"):
                rows = conn.execute("SELECT chain, run, parent FROM run_chains ORDER BY rowid").fetchall()
                runs_of = {str(c): str(r) for c, r, _ in rows}
                for chain, run, parent in rows:
                    if chain in targets:
                        continue
                    if parent in targets:
                        out.append(Link(source=chain, target=parent, how="parent"))
                    else:
                        for t in sorted(targets):
                            if runs_of.get(t) == run:
                                out.append(Link(source=chain, target=t, how="run"))
        except sqlite3.Error as e:
            raise store_error(e, f"cannot read {self.path}") from e
        return out

    def remove_chains(self, chain_ids: Iterable[str]) -> int:
        """Delete the chains with their events, checkpoints, replay outcomes and run
        rows, in one transaction; returns the number of events removed."""
        ids = list(dict.fromkeys(chain_ids))
        events = 0
        try:
            with self.transaction() as conn:
                for cid in ids:
                    key = self.chain_key(cid)
                    events += conn.execute("DELETE FROM events WHERE chain = ?", (key,)).rowcount
                    conn.execute("DELETE FROM checkpoints WHERE chain = ?", (cid,))
                    if _has(conn, "replays"):
                        conn.execute("DELETE FROM replays WHERE source = ? OR chain = ?", (cid, cid))
                    if _has(conn, "run_chains"):
                        conn.execute("DELETE FROM run_chains WHERE chain = ?", (cid,))
                    conn.execute("DELETE FROM chains WHERE id = ?", (cid,))
        except sqlite3.Error as e:
            raise store_error(e, f"cannot remove chains from {self.path}; nothing was removed") from e
        return events

    def collect_garbage(self, *, dry_run: bool = False) -> Freed:
        """Remove the components no chain or replay ran, and the blobs no event refers
        to, in one transaction (``dry_run``: only count them)."""
        try:
            with self.transaction() as conn:
                used = {r[0] for r in conn.execute(
                    "SELECT component_sha256 FROM chains WHERE component_sha256 IS NOT NULL")}
                if _has(conn, "replays"):
                    used |= {r[0] for r in conn.execute(
                        "SELECT component_sha256 FROM replays WHERE component_sha256 IS NOT NULL")}
                unused = [(str(sha), int(size)) for sha, size in conn.execute(
                    "SELECT sha256, size FROM components ORDER BY sha256") if sha not in used]
                referenced: set[bytes] = set()
                for (cid,) in conn.execute("SELECT id FROM chains").fetchall():
                    for _seq, type_, data in self.blob_refs(str(cid), 2**62):  # type: ignore[attr-defined]  # RowReader's (Store)
                        referenced.update(refs(str(type_), bytes(data)))
                stored = conn.execute("SELECT sha256, length(bytes) FROM blobs")
                blobs = [(bytes(sha), int(size)) for sha, size in stored if bytes(sha) not in referenced]
                if not dry_run:
                    conn.executemany("DELETE FROM components WHERE sha256 = ?", [(s,) for s, _ in unused])
                    conn.executemany("DELETE FROM blobs WHERE sha256 = ?", [(s,) for s, _ in blobs])
        except sqlite3.Error as e:
            raise store_error(e, f"cannot collect garbage in {self.path}; nothing was removed") from e
        return Freed(components=tuple(s for s, _ in unused), component_bytes=sum(n for _, n in unused),
                     blobs=len(blobs), blob_bytes=sum(n for _, n in blobs), dry_run=dry_run)
