"""The verifier's fast read (issue 18 item 6): rows with their type ids, not names
(``Store.typed_rows``, ``verify.walk.walk(names=...)``), judged exactly as the walk over
named rows (``Store.hashed_rows``, ``verify.walk.walk``) judges them: the same result,
class, seq, values and head, for a clean chain and for every way the type column or
the types table can be damaged. Real SQLite files written by theater's writer.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import write_chain

from theater.chain import genesis_hash
from theater.store import Store
from verify.integrity import verify_chain
from verify.walk import walk, walk_store

N = 200


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("typed") / "base.db"
    with Store(path) as s:
        cid = write_chain(s, N, batch=64)
    return path, cid


def both(path: Path, cid: str) -> tuple[Any, Any, bool]:
    """(the walk over named rows, walk_store's walk, whether walk_store read type ids)."""
    with Store(path, create=False) as s:
        info = s.chain(cid)
        g = genesis_hash(bytes(info.header))
        named = walk(cid, g, s.hashed_rows(cid, page=16), g, None, 0, False, None, None)
        typed = walk_store(s, cid, g, 0, None, 16, (g, None, 0, False), None, None)
        used = s.typed_rows(cid) is not None
    return named, typed, used


def mutated(base: tuple[Path, str], tmp_path: Path, *sql: str) -> tuple[Path, str]:
    path = tmp_path / "m.db"
    shutil.copyfile(base[0], path)
    with sqlite3.connect(path) as c:
        for q in sql:
            c.execute(q)
    return path, base[1]


def test_verify_reads_type_ids_not_names(base, monkeypatch):
    """issue 18 item 6: `theater verify` of a storage-v2 chain reads no type names (no
    join, no str per row): with hashed_rows made to fail, it still verifies."""
    def no_names(*a: Any, **k: Any) -> Any:
        raise AssertionError("read type names")

    monkeypatch.setattr(Store, "hashed_rows", no_names)
    with Store(base[0], create=False) as s:
        r = verify_chain(s, base[1], workers=1)
    assert r.ok and r.events == N + 1 and r.complete


def test_a_clean_chain_gives_the_same_result(base):
    named, typed, used = both(*base)
    assert used and named == typed and typed.ok and typed.events == N + 1


TYPE_DAMAGE = {
    # the column's INTEGER affinity stores 1.0 as 1 again: no damage, both say ok
    "real id": "UPDATE events SET type = type + 0.0 WHERE seq = 17",
    "text id": "UPDATE events SET type = 'x' || type WHERE seq = 17",
    "blob id": "UPDATE events SET type = CAST(type AS BLOB) WHERE seq = 17",
    "missing id": "UPDATE events SET type = 999 WHERE seq = 17",
    "another type's id": "UPDATE events SET type = (SELECT max(id) FROM event_types) WHERE seq = 5",
    "renamed type": "UPDATE event_types SET name = name || 'x' WHERE id = (SELECT type FROM events WHERE seq = 3)",
    "type name as blob": "UPDATE event_types SET name = CAST(name AS BLOB)"
                         " WHERE id = (SELECT type FROM events WHERE seq = 3)",
    "empty type name": "UPDATE event_types SET name = '' WHERE id = (SELECT type FROM events WHERE seq = 3)",
    "type of the end event": "UPDATE events SET type = (SELECT type FROM events WHERE seq = 1)"
                             " WHERE seq = (SELECT max(seq) FROM events)",
}


@pytest.mark.parametrize("sql", TYPE_DAMAGE.values(), ids=TYPE_DAMAGE.keys())
def test_damaged_types_give_the_same_result(base, tmp_path, sql):
    named, typed, used = both(*mutated(base, tmp_path, sql))
    assert used and named == typed
    assert typed.ok is (sql == TYPE_DAMAGE["real id"])


def test_a_types_table_with_ids_that_are_not_distinct_integers_reads_names(base, tmp_path):
    """A rebuilt event_types whose ids repeat or are text: the join's answer cannot be
    a dict lookup, so the names are read (and the results are the same)."""
    for extra in ("INSERT INTO event_types (id, name) VALUES ('1', 'dup')",
                  "INSERT INTO event_types (id, name) VALUES (1, 'dup')"):
        path, cid = mutated(base, tmp_path,
                            "CREATE TABLE t2 (id, name)", "INSERT INTO t2 SELECT id, name FROM event_types",
                            "DROP TABLE event_types", "ALTER TABLE t2 RENAME TO event_types", extra)
        named, typed, used = both(path, cid)
        assert not used and named == typed
        path.unlink()
