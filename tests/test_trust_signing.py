"""Issue 11 (Trust), items 3, 4, 13 and the `verify` part of 14: what a signature covers,
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
from tamper import delete_checkpoints, rewrite_from

from theater.chain import canonical_json, make_header
from theater.checkpoint import (
    generate_key,
    load_private_key,
    parse_checkpoint,
    sign_checkpoint,
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
    """A careful forger, in one transaction (:func:`tamper.rewrite_from`)."""
    with store.transaction():
        return rewrite_from(store, cid, first)


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


# -- item 4: signatures say how far they reach ---------------------------------------


@pytest.fixture
def two_checkpoints(tmp_path):
    """A complete 21-event chain signed at size 5 and at its end."""
    db = tmp_path / "c.db"
    key = generate_key("auditor")
    write_key_pair(tmp_path / "k", key)
    with Store(db) as s:
        cid = write_chain(s, 20)
        sign_checkpoint(s, cid, key, size=5)
        sign_checkpoint(s, cid, key)
    return db, cid, tmp_path / "k.pub"


def test_deleted_checkpoints_and_rewritten_tail_is_an_unsigned_tail(two_checkpoints):
    """issue 11 item 4: the reproduction: delete the later checkpoint, rewrite the tail."""
    db, cid, pub = two_checkpoints
    r = run_cli("verify", "--db", str(db), "--key", str(pub))
    assert r.returncode == 0 and "signed through 21 of 21 events" in r.stdout
    with Store(db) as s:
        delete_checkpoints(s, size=21)
        _rewrite_from(s, cid, 9)
    r = run_cli("verify", "--db", str(db), "--key", str(pub), "--json")
    assert r.returncode == 1
    out = orjson.loads(r.stdout)
    assert out["signed_size"] == 5
    assert (out["problem"]["class"], out["problem"]["seq"]) == ("unsigned_tail", 5)
    r = run_cli("verify", "--db", str(db), "--key", str(pub))
    assert r.returncode == 1 and "unsigned_tail at seq 5" in r.stderr
    assert "signed through 5 of 21 events" in r.stderr
    r = run_cli("verify", "--db", str(db), "--key", str(pub), "--allow-unsigned-tail")
    assert r.returncode == 0 and "signed through 5 of 21 events" in r.stdout
    r = run_cli("verify", "--db", str(db), "--key", str(pub), "--allow-unsigned-tail", "--json")
    out = orjson.loads(r.stdout)
    assert out["ok"] and out["signed_size"] == 5 and out["problems"] == []


def test_signed_size_is_null_without_a_key_and_an_incomplete_chain_has_no_unsigned_tail(tmp_path):
    """issue 11 item 4: a chain still being recorded is not judged by its unsigned tail."""
    db = tmp_path / "c.db"
    key = generate_key("auditor")
    write_key_pair(tmp_path / "k", key)
    with Store(db) as s:
        cid = write_chain(s, 10, finish=False)
        sign_checkpoint(s, cid, key, size=4)
    r = run_cli("verify", "--db", str(db), "--json")
    assert r.returncode == 0 and orjson.loads(r.stdout)["signed_size"] is None
    r = run_cli("verify", "--db", str(db), "--key", str(tmp_path / "k.pub"), "--json")
    out = orjson.loads(r.stdout)
    assert r.returncode == 0 and out["signed_size"] == 4 and not out["complete"]
    r = run_cli("verify", "--db", str(db), "--key", str(tmp_path / "k.pub"))
    assert r.returncode == 0 and "signed through 4 of 10 events" in r.stdout


def test_a_fresh_signed_recording_and_its_replay_under_all_key(tmp_path):
    """issue 11 item 4: `record --sign-key --checkpoint-every N` signs its final head, so
    it passes with no unsigned tail; an unsigned replay chain fails `verify --all --key`
    like any never-signed chain (the replay_of column is not hashed, so it cannot
    exempt a chain), with a message saying how to sign it, unless --allow-unsigned-tail."""
    db = tmp_path / "s.db"
    assert run_cli("keygen", "--out", str(tmp_path / "k")).returncode == 0
    m = wat_manifest(tmp_path, "counter")
    r = run_cli("record", str(m), "--db", str(db), "--send", "abc", "--send", "de", "--send", "f", "-q",
                "--sign-key", str(tmp_path / "k.key"), "--checkpoint-every", "4", "--json")
    assert r.returncode == 0, r.stderr
    rec = orjson.loads(r.stdout)
    r = run_cli("verify", rec["chain"], "--db", str(db), "--key", str(tmp_path / "k.pub"), "--json")
    out = orjson.loads(r.stdout)
    assert r.returncode == 0 and out["signed_size"] == out["events"] == rec["events"]
    r = run_cli("replay", rec["chain"], "--db", str(db), "--verify", "--save")
    assert r.returncode == 0, r.stderr
    r = run_cli("verify", "--all", "--db", str(db), "--key", str(tmp_path / "k.pub"), "--json")
    assert r.returncode == 1
    chains = orjson.loads(r.stdout)["chains"]
    assert [c["ok"] for c in chains] == [True, False]
    assert chains[1]["problem"]["class"] == "bad_signature" and chains[1]["signed_size"] == 0
    assert "replay of" in chains[1]["problem"]["message"] and "theater checkpoint" in chains[1]["problem"]["message"]
    r = run_cli("verify", "--all", "--db", str(db), "--key", str(tmp_path / "k.pub"), "--allow-unsigned-tail")
    assert r.returncode == 0 and f"signed through 0 of {rec['events']} events" in r.stdout


def test_allow_unsigned_tail_still_fails_forks_and_truncation(two_checkpoints):
    """issue 11 item 4: the flag waives only the unsigned tail."""
    db, cid, pub = two_checkpoints
    with Store(db) as s:
        _rewrite_from(s, cid, 9)
    r = run_cli("verify", "--db", str(db), "--key", str(pub), "--allow-unsigned-tail", "--json")
    assert r.returncode == 1 and orjson.loads(r.stdout)["problem"]["class"] == "fork"


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


# -- item 14 (verify): the text report says what --json says -------------------------


def test_verify_text_notes_unchecked_checkpoints(tmp_path):
    """issue 11 item 14: without --key, the text says stored checkpoints went unchecked."""
    db = tmp_path / "c.db"
    key = generate_key()
    with Store(db) as s:
        cid = write_chain(s, 4)
        sign_checkpoint(s, cid, key, size=2)
        sign_checkpoint(s, cid, key)
    r = run_cli("verify", "--db", str(db))
    assert r.returncode == 0 and "2 stored checkpoint(s) not checked: pass --key" in r.stdout


def test_verify_text_says_the_random_audit_audited_nothing(tmp_path):
    """issue 11 item 14: --audit-random on a chain with no seeded draws says so."""
    db = tmp_path / "c.db"
    with Store(db) as s:
        w = s.create_chain(make_header(actor="a", component_sha256="ab" * 32, seed=3))
        w.append("export:theater:simple/actor#init", canonical_json({"args": {"state": None}, "result": None}))
        w.finish("completed")
    r = run_cli("verify", "--db", str(db), "--audit-random")
    assert r.returncode == 0
    assert "--audit-random audited nothing: the chain has no seeded random draws" in r.stdout
    out = orjson.loads(run_cli("verify", "--db", str(db), "--audit-random", "--json").stdout)
    assert out["random_checked"] == 0 and any("audited nothing" in n for n in out["notes"])


def test_verify_text_states_the_limits_of_a_legacy_chain(tmp_path):
    """issue 11 item 14: a legacy chain's text report names SHA-1, the missing genesis
    binding and the missing end event."""
    from test_legacy import write_legacy

    f = write_legacy(tmp_path / "up.json")
    db = str(tmp_path / "l.db")
    assert run_cli("import", str(f), "--db", db).returncode == 0
    r = run_cli("verify", "--db", db)
    assert r.returncode == 0
    text = r.stdout.lower()
    assert "sha-1" in text and "no genesis" in text and "no end event" in text
