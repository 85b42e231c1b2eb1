"""The warm start of the compiled-component cache (issue 18, the warm-start regression):
an artifact whose bytes theater hashed once, and which has not changed since, is
mapped by wasmtime without being read or hashed again; any change to it is still
detected (docs/performance.md, "warm start", says why). Real components (WAT), a real
cache folder of the test's own, real file-system changes.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from fixtures.build import wat_path
from theater import engine
from theater.engine import cache_key, load_component
from theater.runtime import load_imports


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache" / "compiled"
    monkeypatch.setenv("THEATER_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the artifacts whose bytes a load hashes (the real digest is computed)."""
    count = [0]
    real = engine._artifact_digest

    def counting(key: str, artifact: bytes) -> str:
        count[0] += 1
        return real(key, artifact)

    monkeypatch.setattr(engine, "_artifact_digest", counting)
    return count


def digest_file(cache: Path, data: bytes) -> Path:
    return cache / f"{cache_key(data)}.cwasm.sha256"


def warm(cache: Path, data: bytes) -> None:
    """Compile into the cache, then load until the digest file records that the bytes
    were hashed: that needs the artifact's last change to be older than the file
    system's clock when the hash began, which a clock tick (at most 10 ms) gives."""
    load_component(data)
    for _ in range(2000):
        load_component(data)
        if len(digest_file(cache, data).read_bytes().splitlines()) == 2:
            return
    raise AssertionError("the digest file never recorded the hashed artifact")


def test_an_unchanged_artifact_is_not_hashed_again(cache: Path, hashed: list[int]) -> None:
    """issue 18 (warm start): once hashed, loading the cached artifact reads none of it
    (before, every warm load read and hashed the whole artifact: 40 MB for the
    example actor)."""
    data = wat_path("counter").read_bytes()
    warm(cache, data)
    assert hashed[0] >= 1
    hashed[0] = 0
    for _ in range(5):
        comp = load_component(data)
        assert load_imports(comp)  # the component itself (counter imports log and random)
    assert hashed[0] == 0


def test_an_artifact_changed_in_place_with_its_times_put_back_is_detected(cache: Path, hashed: list[int]) -> None:
    """A byte of the artifact changed in place, its size kept and its mtime set back:
    the ctime the kernel set tells, the bytes are hashed, found not theater's, and the
    component is compiled again (the cache entry rewritten)."""
    data = wat_path("counter").read_bytes()
    warm(cache, data)
    artifact = cache / f"{cache_key(data)}.cwasm"
    good = artifact.read_bytes()
    st = artifact.stat()
    with open(artifact, "r+b") as f:
        f.seek(len(good) // 2)
        f.write(bytes([good[len(good) // 2] ^ 0xFF]))
    os.utime(artifact, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = artifact.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (st.st_size, st.st_mtime_ns, st.st_ino)
    hashed[0] = 0
    comp = load_component(data)
    assert hashed[0] >= 1  # looked at again
    assert load_imports(comp)
    assert artifact.read_bytes() != good[:len(good) // 2] + bytes([good[len(good) // 2] ^ 0xFF]) + \
        good[len(good) // 2 + 1:]  # recompiled over


def test_a_replaced_artifact_is_hashed_again(cache: Path, hashed: list[int]) -> None:
    """The same bytes written again (a new inode, as a copy or a restore makes) are
    hashed once more before they are trusted."""
    data = wat_path("counter").read_bytes()
    warm(cache, data)
    artifact = cache / f"{cache_key(data)}.cwasm"
    shutil.copyfile(artifact, artifact.with_name("copy"))
    os.replace(artifact.with_name("copy"), artifact)
    hashed[0] = 0
    assert load_imports(load_component(data))
    assert hashed[0] == 1


def test_a_digest_file_moved_to_another_key_is_not_trusted(cache: Path) -> None:
    """spin's artifact and its digest file, with the record that it was hashed, planted
    under counter's key (the artifact hard-linked, so even its inode is the same):
    counter's own bytes are compiled instead."""
    counter = wat_path("counter").read_bytes()
    spin = wat_path("spin").read_bytes()
    warm(cache, spin)
    k_counter, k_spin = cache_key(counter), cache_key(spin)
    os.link(cache / f"{k_spin}.cwasm", cache / f"{k_counter}.cwasm")
    shutil.copyfile(cache / f"{k_spin}.cwasm.sha256", cache / f"{k_counter}.cwasm.sha256")
    assert load_imports(load_component(counter)), "spin's artifact was loaded for counter's bytes"


def test_a_change_in_the_clock_tick_of_the_hash_is_hashed_again(cache: Path, hashed: list[int]) -> None:
    """A record whose stamp is not later than the artifact's ctime (a change in the same
    clock tick as the hash could have followed it) is not trusted: the bytes are hashed."""
    data = wat_path("counter").read_bytes()
    warm(cache, data)
    key = cache_key(data)
    artifact, side = cache / f"{key}.cwasm", digest_file(cache, data)
    digest = side.read_bytes().splitlines()[0].decode()
    ident = engine._ident(artifact.stat())
    side.write_bytes(digest.encode() + b"\n" + engine._ident_line(key, digest, ident, ident[4]) + b"\n")
    hashed[0] = 0
    assert load_imports(load_component(data))
    assert hashed[0] == 1


@pytest.mark.parametrize("second", [b"", b"hashed 1 2 3\n", b"garbage\n"])
def test_a_digest_file_without_a_valid_record_still_loads_by_hash(cache: Path, hashed: list[int],
                                                                  second: bytes) -> None:
    """A digest file in the first format (one line), or with a second line that is not a
    valid record, is the slow path: hashed, loaded, and the record written."""
    data = wat_path("counter").read_bytes()
    load_component(data)
    side = digest_file(cache, data)
    side.write_bytes(side.read_bytes().splitlines()[0] + b"\n" + second)
    hashed[0] = 0
    comp: Any = load_component(data)
    assert load_imports(comp) and hashed[0] == 1


# -- start-up hashes the component once (round s5, t-start item 2) ---------------------------


@pytest.fixture
def component_hashes(monkeypatch: pytest.MonkeyPatch) -> dict[int, int]:
    """Counts SHA-256 computations by the length of their input (the real digest is
    computed): a component's bytes are told apart by their length."""
    import hashlib

    counts: dict[int, int] = {}
    real = hashlib.sha256

    def counting(data: bytes = b"", *args: Any, **kwargs: Any) -> Any:
        counts[len(data)] = counts.get(len(data), 0) + 1
        return real(data, *args, **kwargs)

    monkeypatch.setattr(hashlib, "sha256", counting)
    return counts


def component_statements(store: Any) -> list[str]:
    """The statements on the store's connection that name the components table, from
    now on (SQLite's own trace)."""
    seen: list[str] = []
    store.conn.set_trace_callback(lambda sql: seen.append(sql) if "components" in sql else None)
    return seen


def test_record_hashes_its_component_once(cache: Path, tmp_path: Path,
                                          component_hashes: dict[int, int]) -> None:
    """t-start item 2: `theater record` hashes the component's bytes once, for the cache
    key, and uses that digest for the header and the store (it hashed them three times:
    the cache key, load_actor_component, put_component); the chain still binds the
    bytes' real SHA-256 and the store holds them under it."""
    import hashlib

    from actors import wat_manifest
    from conftest import run_cli

    from theater.store import Store

    data = wat_path("counter").read_bytes()
    manifest, db = wat_manifest(tmp_path, "counter"), tmp_path / "rec.db"
    for n in (1, 2):  # a new database, then one that holds the component
        component_hashes.clear()
        r = run_cli("record", str(manifest), "--db", str(db), "-q")
        assert r.returncode == 0, r.stderr
        # the first recording also checks the digest once before the bytes are stored
        assert component_hashes.get(len(data)) == (2 if n == 1 else 1), (n, component_hashes)
    with Store(db, create=False) as store:
        want = hashlib.sha256(data).hexdigest()
        assert {c.component_sha256 for c in store.chains()} == {want}
        assert store.get_component(want) == data


def test_put_component_keeps_a_stored_row_without_binding_the_bytes(tmp_path: Path,
                                                                     component_hashes: dict[int, int]) -> None:
    """t-start item 2: with the caller's digest, a component already stored is neither
    hashed nor bound to an INSERT again (18 MB on every recording of the example actor);
    a new row is checked against the digest, and bytes that do not match are refused
    with nothing written."""
    import hashlib

    from theater.errors import ComponentMismatch
    from theater.store import Store

    data = b"\0asm a component" * 1000
    sha = hashlib.sha256(data).hexdigest()
    with Store(tmp_path / "c.db") as store:
        assert store.put_component(data, sha256=sha) == sha
        statements = component_statements(store)
        component_hashes.clear()
        assert store.put_component(data, sha256=sha) == sha
        assert not [s for s in statements if s.lstrip().upper().startswith("INSERT")], statements
        assert component_hashes.get(len(data)) is None
        assert store.put_component(data) == sha  # without a digest: hashed, still not inserted
        assert not [s for s in statements if s.lstrip().upper().startswith("INSERT")], statements
        other = b"\0asm another one"
        with pytest.raises(ComponentMismatch, match="do not hash to"):
            store.put_component(other, sha256=sha.replace(sha[0], "0" if sha[0] != "0" else "1", 1))
        assert store.get_component(hashlib.sha256(other).hexdigest()) is None
        assert store.get_component(sha) == data
