"""All SQL behind the store, and files of one idea (issue 12 items 3 and 6).

The store is a package (connection and schema; the writer; row reading; replay
outcomes), the checkpoints one too (keys; the signed note; stored checkpoints); no
module outside ``theater/store/`` issues SQL; one function turns a ``sqlite3.Error``
into a ``StoreError``; pragmas are set as a connection opens. Real SQLite files,
real chains.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sqlite3
from pathlib import Path

import pytest
from conftest import write_chain

import theater.errors as errors
from theater.chain import END_TYPE, genesis_hash
from theater.store import Store

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("theater", "replay", "verify", "tui")
SQL_WORDS = ("SELECT ", "INSERT ", "UPDATE ", "DELETE ", "PRAGMA ", "CREATE ", "BEGIN", "COMMIT", "ROLLBACK")


def sources(*, outside_store: bool = True) -> list[Path]:
    files = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    if outside_store:
        files = [p for p in files if (ROOT / "theater" / "store") not in p.parents]
    assert len(files) > 40, files
    return files


def imported_names(module: str, *relative: str) -> set[str]:
    """Every name the tree (tests included) imports from ``module`` (absolute or relative forms)."""
    names: set[str] = set()
    for path in [*sources(outside_store=False), *sorted((ROOT / "tests").rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                mod = "." * node.level + (node.module or "")
                if mod == module or mod in relative:
                    names.update(a.name for a in node.names)
    return names


def test_the_store_is_a_package_of_one_idea_a_module():
    """issue 12 item 6: theater/store/ is connection and schema, the writer, row reading and
    replay outcomes; its __init__ still gives every name the tree imports from it."""
    import theater.store as store

    assert hasattr(store, "__path__"), "theater.store is a package"
    where = {
        "connection": ["Connection", "connect", "store_error", "describe_sqlite_error", "SCHEMA", "busy_timeout"],
        "writer": ["ChainWriter", "ChainImport", "RowWriter"],
        "rows": ["ChainInfo", "MalformedEvent", "checked_row", "RowReader"],
        "replays": ["ReplayOutcome", "ReplayRecord", "ReplayLog"],
    }
    for module, names in where.items():
        mod = importlib.import_module(f"theater.store.{module}")
        for name in names:
            assert getattr(store, name) is getattr(mod, name), f"{name} is theater.store.{module}.{name}"
    used = imported_names("theater.store", ".store", "..store")
    assert {"Store", "ChainInfo", "ChainWriter", "ReplayOutcome", "default_db_path"} <= used
    missing = sorted(n for n in used if not hasattr(store, n))
    assert not missing, f"theater.store no longer exports {missing}"
    assert issubclass(store.Store, store.RowReader) and issubclass(store.Store, store.RowWriter)
    assert issubclass(store.Store, store.ReplayLog)


def test_checkpoints_are_keys_note_and_stored_and_their_errors_are_in_errors():
    """issue 12 item 6: theater/checkpoint/ is keys, the signed note, stored checkpoints;
    CheckpointError and BadSignature live in theater/errors.py and its drawn tree."""
    import theater.checkpoint as checkpoint

    assert hasattr(checkpoint, "__path__"), "theater.checkpoint is a package"
    where = {
        "keys": ["PublicKey", "PrivateKey", "key_id", "generate_key", "load_private_key", "write_key_pair"],
        "note": ["Checkpoint", "Signature", "sign_note", "parse_note", "open_note", "parse_checkpoint"],
        "stored": ["sign_checkpoint", "sign_verified", "store_checkpoint", "stored_checkpoints"],
    }
    for module, names in where.items():
        mod = importlib.import_module(f"theater.checkpoint.{module}")
        for name in names:
            assert getattr(checkpoint, name) is getattr(mod, name), f"{name} is theater.checkpoint.{module}.{name}"
    used = imported_names("theater.checkpoint", ".checkpoint", "..checkpoint")
    missing = sorted(n for n in used if not hasattr(checkpoint, n))
    assert not missing, f"theater.checkpoint no longer exports {missing}"

    assert checkpoint.CheckpointError is errors.CheckpointError
    assert checkpoint.BadSignature is errors.BadSignature
    assert issubclass(errors.CheckpointError, errors.UsageError)
    assert issubclass(errors.BadSignature, errors.TheaterError)
    assert errors.BadSignature.exit_code == errors.ExitCode.FAILED
    tree = errors.__doc__ or ""
    assert "CheckpointError" in tree and "BadSignature" in tree
    for path in (ROOT / "theater" / "checkpoint").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(b) for b in node.bases]
                assert not any(b.endswith(("Error", "Exception", "Signature")) for b in bases), (
                    f"{path.name} defines the exception {node.name}: it belongs in theater/errors.py")


def test_export_is_renamed_bundle_and_the_bulk_import_is_the_stores():
    """issue 12 item 3: theater/export.py (export and import machinery) is theater/bundle.py;
    the transactional import (SQL) is theater.store's ChainImport."""
    assert importlib.util.find_spec("theater.export") is None
    import theater.bundle as bundle
    from theater.store import ChainImport

    assert callable(bundle.write_jsonl) and callable(bundle.read_jsonl)
    assert not hasattr(bundle, "ChainImport")
    assert ChainImport.__module__ == "theater.store.writer"


def test_no_module_outside_the_store_issues_sql():
    """issue 12 item 3: no execute()/executemany()/executescript() and no SQL text outside
    theater/store/ (export, checkpoint, commands/verify, verify/parallel, verify/importer,
    verify/checkpoints and tui/data issued SQL)."""
    found = []
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("execute", "executemany", "executescript")):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} calls {node.func.attr}()")
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(SQL_WORDS):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} holds SQL {node.value[:40]!r}")
    assert not found, "\n".join(found)


def test_one_function_maps_sqlite_errors_to_store_errors():
    """issue 12 item 3: no handler of a sqlite3 error builds a StoreError by hand; they call
    theater.store.store_error (which adds what the error usually means)."""
    by_hand = []
    for path in sources(outside_store=False):
        if path == ROOT / "theater" / "store" / "connection.py":
            continue
        text = path.read_text()
        if "describe_sqlite_error(" in text:
            by_hand.append(f"{path.relative_to(ROOT)} calls describe_sqlite_error")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ExceptHandler) and node.type is not None and "sqlite3" in ast.unparse(node.type):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Call) and ast.unparse(inner.func).endswith("StoreError"):
                        by_hand.append(f"{path.relative_to(ROOT)}:{inner.lineno} builds a StoreError by hand")
    assert not by_hand, "\n".join(by_hand)


def test_store_error_says_what_a_sqlite_error_usually_means(tmp_path: Path):
    """issue 12 item 3: store_error on a real SQLite error: one line, with the hint."""
    from theater.store import store_error

    bad = tmp_path / "junk.db"
    bad.write_bytes(b"this is not a database" * 100)
    try:
        sqlite3.connect(bad).execute("SELECT * FROM sqlite_master").fetchall()
    except sqlite3.DatabaseError as e:
        err = store_error(e, f"cannot read {bad}")
    else:
        pytest.fail("SQLite read a file that is not a database")
    assert isinstance(err, errors.StoreError)
    assert str(err).startswith(f"cannot read {bad}: file is not a database")
    assert "(the file is damaged or not a database)" in str(err) and "\n" not in str(err)


def test_pragmas_are_set_when_a_connection_opens(tmp_path: Path):
    """issue 12 item 3: synchronous=NORMAL on every connection from its opening (not set by a
    ChainWriter on the shared one), query_only on the reader and on a query_only Store."""
    path = tmp_path / "p.db"
    with Store(path) as store:
        assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL, before any writer
        assert store.reader.execute("PRAGMA synchronous").fetchone()[0] == 1
        assert store.reader.execute("PRAGMA query_only").fetchone()[0] == 1
        assert store.conn.execute("PRAGMA query_only").fetchone()[0] == 0
        chain = write_chain(store, 5)
    with Store(path, create=False, query_only=True) as ro:
        assert ro.conn.execute("PRAGMA query_only").fetchone()[0] == 1
        assert ro.count(chain) == 6
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            ro.conn.execute("DELETE FROM events")
    with Store(path, create=False) as again:
        assert again.count(chain) == 6


def test_the_stores_queries_for_other_layers(tmp_path: Path):
    """issue 12 item 3: the queries the other layers used to write themselves: checkpoint
    rows, bulk import, find by type, max seq, the state before a part, chain exists."""
    from theater.checkpoint import generate_key, sign_checkpoint

    with Store(tmp_path / "q.db") as store:
        chain = write_chain(store, 7)  # 7 events and the end event, seqs 0..7
        assert store.chain_exists(chain) and not store.chain_exists(chain[:-1])
        assert store.max_seq(chain) == 7 and store.max_seq("nope") is None

        # find by type: export events are seq 2 and 5 (every third); wrap searches the other side
        assert store.find_type(chain, "actor#init", 2) == 5
        assert store.find_type(chain, "actor#init", 5) is None
        assert store.find_type(chain, "actor#init", 5, wrap=True) == 2
        assert store.find_type(chain, "actor#init", 5, backwards=True) == 2
        assert store.find_type(chain, "actor#init", 2, backwards=True) is None
        assert store.find_type(chain, "actor#init", 2, backwards=True, wrap=True) == 5

        seq, h, is_end = store.state_before(chain, 8, END_TYPE) or (None, None, None)
        assert (seq, bytes(h), bool(is_end)) == (7, store.event(chain, 7).hash, True)  # type: ignore[union-attr]
        assert store.state_before(chain, 0, END_TYPE) is None

        key = generate_key("t")
        cp = sign_checkpoint(store, chain, key, size=3)
        assert store.checkpoint_rows(chain) == [(1, chain, cp.text)]
        assert store.checkpoint_rows() == store.checkpoint_rows(chain) and store.checkpoint_rows("x") == []

        info = store.chain(chain)
        imp = store.begin_import(info.header, "v1")
        rows = list(imp.tee(store.event_rows(chain)))
        new = imp.commit("complete")
        assert [r[:5] for r in store.event_rows(new)] == [r[:5] for r in rows]
        assert store.chain(new).length == 8 and store.chain(new).head == store.event(chain, 7).hash  # type: ignore[union-attr]

        imp = store.begin_import(info.header, "v1")
        list(imp.tee(store.event_rows(chain)))
        imp.rollback()
        assert len(store.chains()) == 2
        assert genesis_hash(info.header) == store.event(chain, 0).parent  # type: ignore[union-attr]
