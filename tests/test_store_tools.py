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
        assert db["events"].pks == ["chain", "seq"]  # storage v2: WITHOUT ROWID, keyed (chain, seq)
        # the keys are declared, so tools follow them to the chain id and the type's name
        fks = {(fk.column, fk.other_table, fk.other_column) for fk in db["events"].foreign_keys}
        assert fks == {("chain", "chains", "key"), ("type", "event_types", "id")}
        key = db.execute("SELECT key FROM chains WHERE id = ?", [chain]).fetchone()[0]
        [row] = db["chains"].rows_where("id = ?", [chain])  # storage v2: the primary key is the integer key
        assert row["status"] == "complete" and row["length"] == n and row["actor"] == "counter"
        assert db["events"].count_where("chain = ?", [key]) == n
        with Store(path, create=False) as store:
            assert [r["hash"] for r in db["events"].rows_where("chain = ?", [key], order_by="seq")] == [
                ev.hash for ev in store.events(chain)]
    finally:
        db.close()


def test_datasette_serves_a_recorded_database(tmp_path: Path) -> None:
    """issue 12 item 3: Datasette, in process, lists theater's tables and serves its rows."""
    path, chain, n = recorded(tmp_path)
    with Store(path, create=False) as store:
        key = store.chain_key(chain)

    async def browse() -> tuple[Any, Any, Any]:
        ds = Datasette([str(path)], immutables=[])
        await ds.invoke_startup()
        tables = await ds.client.get("/rec.json")
        chains = await ds.client.get("/rec/chains.json?_shape=objects")
        # storage v2: events name their chain by its key; _labels follows the declared keys
        events = await ds.client.get(f"/rec/events.json?_shape=objects&chain__exact={key}&_sort=seq&_size=max"
                                     "&_labels=on")
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
        assert [r["type"]["label"] for r in rows] == [ev.type for ev in store.events(chain)]
        assert {r["chain"]["value"] for r in rows} == {store.chain_key(chain)}
        assert store.count(chain) == n and store.chain(chain).status == "complete"
