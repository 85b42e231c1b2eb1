"""Issue 11 (Trust), items 3 and 13: what a signature covers,
how keys are written and read, and what `theater verify` says in text."""

from __future__ import annotations

import os
import resource
import stat
import subprocess
import sys

import orjson
import pytest
from actors import wat_manifest
from conftest import run_cli, write_chain

from theater.chain import event_hash
from theater.checkpoint import (
    generate_key,
    load_private_key,
    parse_checkpoint,
    stored_checkpoints,
    write_key_pair,
)
from theater.errors import UsageError
from theater.store import Store


def _cli_inprocess(capsys, *args: str) -> tuple[int, str, str]:
    """The real CLI entry point, in this process (so a test can act between its steps)."""
    from theater.cli import main

    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def _rewrite_from(store: Store, cid: str, first: int) -> bytes:
    """A careful forger: change event ``first``'s data and re-hash it and every later event."""
    evs = list(store.events(cid))
    head = evs[first - 1].hash
    with store.transaction():
        for ev in evs[first:]:
            data = ev.data.replace(b"}", b" }", 1) if ev.seq == first else ev.data
            h = event_hash(ev.seq, head, ev.type, data)
            store.conn.execute("UPDATE events SET data=?, parent=?, hash=? WHERE chain=? AND seq=?",
                               (data, head, h, cid, ev.seq))
            head = h
        store.conn.execute("UPDATE chains SET head=? WHERE id=?", (head, cid))
    return head


# -- item 3: `theater checkpoint` signs what it verified ---------------------------


def test_checkpoint_signs_the_head_it_verified_not_a_later_one(tmp_path, capsys, monkeypatch):
    """issue 11 item 3: a writer that changes the chain between verification and signing
    must not get its head signed. The verification is the real one; right after it
    returns, a second connection (another process would do the same) re-hashes the
    last event, which is the moment a concurrent writer would strike."""
    import verify.integrity as integrity

    db = tmp_path / "c.db"
    write_key_pair(tmp_path / "k", generate_key("signer"))
    with Store(db) as s:
        cid = write_chain(s, 8)
        verified_head = s.last_event(cid).hash
    real = integrity.verify_chain
    rewritten: list[bytes] = []

    def verify_then_race(store, info, **kw):
        result = real(store, info, **kw)
        with Store(db) as other:
            rewritten.append(_rewrite_from(other, cid, 8))
        return result

    monkeypatch.setattr(integrity, "verify_chain", verify_then_race)
    code, out, err = _cli_inprocess(capsys, "checkpoint", cid, "--key", str(tmp_path / "k.key"), "--db", str(db))
    assert code == 0, err
    assert rewritten and rewritten[0] != verified_head
    cp = parse_checkpoint(out)
    assert (cp.size, cp.head) == (9, verified_head)
    with Store(db) as s:
        assert [parse_checkpoint(n).head for _, _, n in stored_checkpoints(s, cid)] == [verified_head]
    # and the auditor sees the rewrite against what was signed
    monkeypatch.setattr(integrity, "verify_chain", real)
    r = run_cli("verify", cid, "--db", str(db), "--key", str(tmp_path / "k.pub"), "--json")
    assert r.returncode == 1 and orjson.loads(r.stdout)["problem"]["class"] == "fork"


def test_checkpoint_size_signs_the_verified_hash_at_that_size(tmp_path, capsys, monkeypatch):
    """issue 11 item 3: with --size, the head is the one the verification walked over."""
    import verify.integrity as integrity

    db = tmp_path / "c.db"
    write_key_pair(tmp_path / "k", generate_key("signer"))
    with Store(db) as s:
        cid = write_chain(s, 8)
        at4 = s.event(cid, 3).hash
    real = integrity.verify_chain

    def verify_then_race(store, info, **kw):
        result = real(store, info, **kw)
        with Store(db) as other:
            _rewrite_from(other, cid, 3)
        return result

    monkeypatch.setattr(integrity, "verify_chain", verify_then_race)
    code, out, err = _cli_inprocess(capsys, "checkpoint", cid, "--key", str(tmp_path / "k.key"),
                                    "--db", str(db), "--size", "4")
    assert code == 0, err
    assert parse_checkpoint(out).head == at4


# -- item 13: keygen never follows a symlink; a readable private key is refused ------


def test_keygen_force_replaces_symlinks_not_their_targets(tmp_path):
    """issue 11 item 13: --force replaces a link to a victim file, never the victim."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "k.pub").symlink_to(victim)
    (tmp_path / "k.key").symlink_to(tmp_path / "stolen.key")  # dangling: would be created
    r = run_cli("keygen", "--out", str(tmp_path / "k"), "--force")
    assert r.returncode == 0, r.stderr
    assert victim.read_text() == "precious\n" and not (tmp_path / "stolen.key").exists()
    for name, mode in (("k.key", 0o600), ("k.pub", None)):
        st = os.lstat(tmp_path / name)
        assert stat.S_ISREG(st.st_mode)
        if mode is not None:
            assert stat.S_IMODE(st.st_mode) == mode
    assert load_private_key(tmp_path / "k.key").public().encode() == (tmp_path / "k.pub").read_text().strip()


def test_keygen_without_force_refuses_any_existing_name_even_a_dangling_link(tmp_path):
    """issue 11 item 13: a dangling k.pub link is an existing name; nothing is written."""
    (tmp_path / "k.pub").symlink_to(tmp_path / "planted.pub")
    r = run_cli("keygen", "--out", str(tmp_path / "k"))
    assert r.returncode == 2 and "exists" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "planted.pub").exists() and not os.path.lexists(tmp_path / "k.key")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.pub"]


def test_keygen_failed_write_leaves_no_file(tmp_path):
    """issue 11 item 13: a write that fails (here: the file size limit, as a full disk
    would) leaves neither a 0-byte key nor a temporary file."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))

    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("THEATER_DB", None)
    r = subprocess.run([sys.executable, "-m", "theater", "keygen", "--out", str(tmp_path / "k")],
                       capture_output=True, text=True, env=env, preexec_fn=limit, timeout=60)
    assert r.returncode == 2 and "cannot write" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_private_key_readable_by_others_is_refused(tmp_path):
    """issue 11 item 13: like ssh, a private key that group or others can read is refused."""
    db = tmp_path / "c.db"
    write_key_pair(tmp_path / "k", generate_key("signer"))
    with Store(db) as s:
        cid = write_chain(s, 3)
    os.chmod(tmp_path / "k.key", 0o644)
    r = run_cli("checkpoint", cid, "--key", str(tmp_path / "k.key"), "--db", str(db))
    assert r.returncode == 2 and r.stdout == ""
    assert f"permissions 0644 for {tmp_path / 'k.key'} are too open" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    m = wat_manifest(tmp_path, "counter")
    r = run_cli("record", str(m), "--db", str(db), "--sign-key", str(tmp_path / "k.key"))
    assert r.returncode == 2 and "are too open" in r.stderr
    with Store(db) as s:
        assert len(s.chains()) == 1 and stored_checkpoints(s) == []
    os.chmod(tmp_path / "k.key", 0o640)
    with pytest.raises(UsageError, match="permissions 0640"):
        load_private_key(tmp_path / "k.key")
    os.chmod(tmp_path / "k.key", 0o400)
    assert load_private_key(tmp_path / "k.key").name == "signer"
