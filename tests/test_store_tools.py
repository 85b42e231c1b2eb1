"""A theater database is an ordinary SQLite file: sqlite-utils and Datasette read it
(issue 12 item 3). A real recording (a real component run by wasmtime), opened by
sqlite-utils' Python API and by Datasette in process, read back the same as the store
reads it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import sqlite_utils
from actors import wat_manifest
from datasette.app import Datasette

from theater.manifest import load_manifest
from theater.recorder import Input, record
from theater.store import Store

TABLES = {"chains", "events", "checkpoints", "components", "replays"}


def recorded(tmp_path: Path) -> tuple[Path, str, int]:
    path = tmp_path / "rec.db"
    with Store(path) as store:
        r = record(load_manifest(wat_manifest(tmp_path, "counter")), store,
                   inputs=[Input("send", s) for s in (b"abc", b"xy", b"z")])
        return path, r.chain, store.count(r.chain)


def test_sqlite_utils_reads_a_recorded_database(tmp_path: Path) -> None:
    """issue 12 item 3: sqlite-utils sees theater's tables, columns and rows."""
    path, chain, n = recorded(tmp_path)
    db = sqlite_utils.Database(path)
    try:
        assert TABLES <= set(db.table_names())
        assert db.journal_mode == "wal"
        assert {"id", "actor", "format", "header", "status", "length", "head"} <= set(db["chains"].columns_dict)
        assert db["events"].pks == ["rowid"]  # no declared key: (chain, seq) is a unique index
        assert any(ix.columns == ["chain", "seq"] and ix.unique for ix in db["events"].indexes)
        row = db["chains"].get(chain)
        assert row["status"] == "complete" and row["length"] == n and row["actor"] == "counter"
        assert db["events"].count_where("chain = ?", [chain]) == n
        with Store(path, create=False) as store:
            assert [r["hash"] for r in db["events"].rows_where("chain = ?", [chain], order_by="seq")] == [
                ev.hash for ev in store.events(chain)]
    finally:
        db.close()


def test_datasette_serves_a_recorded_database(tmp_path: Path) -> None:
    """issue 12 item 3: Datasette, in process, lists theater's tables and serves its rows."""
    path, chain, n = recorded(tmp_path)

    async def browse() -> tuple[Any, Any, Any]:
        ds = Datasette([str(path)], immutables=[])
        await ds.invoke_startup()
        tables = await ds.client.get("/rec.json")
        chains = await ds.client.get("/rec/chains.json?_shape=objects")
        events = await ds.client.get(f"/rec/events.json?_shape=objects&chain={chain}&_sort=seq&_size=max")
        return tables, chains, events

    tables, chains, events = asyncio.run(browse())
    assert tables.status_code == 200, tables.text
    assert TABLES <= {t["name"] for t in tables.json()["tables"]}
    assert chains.status_code == 200, chains.text
    [row] = chains.json()["rows"]
    assert row["id"] == chain and row["status"] == "complete" and row["length"] == n
    assert events.status_code == 200, events.text
    rows = events.json()["rows"]
    assert [r["seq"] for r in rows] == list(range(n))
    with Store(path, create=False) as store:  # what the store reads, and Datasette left it as it was
        assert [r["type"] for r in rows] == [ev.type for ev in store.events(chain)]
        assert store.count(chain) == n and store.chain(chain).status == "complete"
