"""Keys, signed checkpoints (C2SP signed-note / tlog-checkpoint) and `theater verify --key`."""

from __future__ import annotations

import base64
import os
import stat

import orjson
import pytest
from conftest import run_cli, write_chain
from tamper import delete_checkpoints, rewrite_from, set_event, truncate

from theater.chain import genesis_hash
from theater.checkpoint import (
    BadSignature,
    CheckpointError,
    Signature,
    checkpoint_body,
    generate_key,
    key_id,
    load_private_key,
    load_public_key,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    parse_note,
    parse_private_key,
    parse_public_key,
    sign_checkpoint,
    sign_note,
    stored_checkpoints,
    write_key_pair,
)
from theater.errors import UsageError
from theater.store import Store

# The example of golang.org/x/mod/sumdb/note (the signed-note reference implementation):
# Ed25519 is deterministic, so the same key and text must give this exact note.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_SIG = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
# The verifier key example of the C2SP signed-note spec.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = ("This is an example message.\n\n— example.com/foo "
             "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n")


def test_reference_vectors_interoperate():
    sk, vk = parse_private_key(GO_SKEY), parse_public_key(GO_VKEY)
    assert sk.public() == vk and vk.encode() == GO_VKEY and sk.encode() == GO_SKEY
    assert key_id("PeterNeumann", vk.key).hex() == "c74f20a3"
    assert sign_note(GO_TEXT, [sk]) == GO_TEXT + "\n" + GO_SIG
    assert open_note(GO_TEXT + "\n" + GO_SIG, [vk]) == [vk]
    spec = parse_public_key(SPEC_VKEY)
    assert open_note(SPEC_NOTE, [spec]) == [spec]
    with pytest.raises(BadSignature):
        open_note(SPEC_NOTE.replace("example message", "example massage"), [spec])


def test_unknown_keys_are_ignored_known_bad_ones_are_not():
    a, b = generate_key("alice"), generate_key("bob")
    note = sign_note("x\n", [a, b])
    assert open_note(note, [a.public()]) == [a.public()]
    assert open_note(note, [a.public(), b.public()]) == [a.public(), b.public()]
    with pytest.raises(BadSignature, match="no signature by a known key"):
        open_note(note, [generate_key("carol").public()])
    body, sigs = parse_note(note)
    bad = Signature(sigs[1].name, sigs[1].key_id, bytes([sigs[1].sig[0] ^ 1]) + sigs[1].sig[1:])
    forged = body + "\n" + sigs[0].line() + bad.line()
    with pytest.raises(BadSignature, match="bob"):
        open_note(forged, [a.public(), b.public()])
    assert open_note(forged, [a.public()]) == [a.public()]  # bob unknown: ignored


@pytest.mark.parametrize("text,what", [
    ("theater/x\n1\nAA==\n", "blank line"),
    ("theater/x\n1\n" + "A" * 44 + "\n\n— k notbase64!\n", "base64"),
    ("theater/x\n1\n" + "A" * 44 + "\n\n- k AAAAAAAA\n", "signature line"),
    ("theater/x\n01\n" + "A" * 44 + "\n\n— k AAAAAAAA\n", "decimal"),
    ("theater/x\n-1\n" + "A" * 44 + "\n\n— k AAAAAAAA\n", "decimal"),
    ("theater/x\n1\nAAAA\n\n— k AAAAAAAA\n", "not a chain hash"),
    ("theater/x\n1\n\n— k AAAAAAAA\n", "origin, size and head"),
    ("theater/x\n1\n" + "A" * 44 + "\n\n— k AAAA\n", "too short"),
    ("theater/x\t\n1\n" + "A" * 44 + "\n\n— k AAAAAAAA\n", "control"),
])
def test_malformed_notes_are_rejected(text, what):
    with pytest.raises(CheckpointError, match=what):
        parse_checkpoint(text)


def test_checkpoint_text_layout_and_roundtrip():
    key = generate_key("auditor")
    head = bytes(range(32))
    note = sign_note(checkpoint_body("0123456789abcdef", 42, head), [key])
    lines = note.split("\n")
    assert lines[:4] == ["theater/0123456789abcdef", "42", base64.b64encode(head).decode(), ""]
    assert lines[4].startswith("— auditor ") and lines[5] == ""
    raw = base64.b64decode(lines[4].split()[2])
    assert raw[:4] == key.public().id and len(raw) == 68
    cp = parse_checkpoint(note)
    assert (cp.chain, cp.size, cp.head, cp.body) == ("0123456789abcdef", 42, head, "\n".join(lines[:3]) + "\n")
    assert open_checkpoint(cp, [key.public()]) == [key.public()]


def test_key_files(tmp_path):
    key = generate_key("ci-signer")
    priv, pub = write_key_pair(tmp_path / "k", key)
    assert stat.S_IMODE(os.stat(priv).st_mode) == 0o600
    assert load_private_key(priv) == key and load_public_key(pub) == key.public()
    assert load_public_key(priv) == key.public()
    with pytest.raises(UsageError, match="exists"):
        write_key_pair(tmp_path / "k", generate_key())
    pub.write_text(pub.read_text().replace("ci-signer", "ci-signed"))
    with pytest.raises(CheckpointError, match="key id"):
        load_public_key(pub)
    with pytest.raises(CheckpointError):
        generate_key("two words")
    assert "seed" not in repr(key) and key.seed.hex() not in repr(key)


def test_sign_checkpoint_stores_and_checks_head(store):
    cid = write_chain(store, 5)
    key = generate_key()
    cp = sign_checkpoint(store, cid, key)
    assert (cp.chain, cp.size, cp.head) == (cid, 6, store.last_event(cid).hash)
    assert stored_checkpoints(store, cid) == [(1, cid, cp.text)]
    assert store.conn.execute("SELECT size, head, key_id FROM checkpoints").fetchone() == (
        6, cp.head, key.public().id.hex())
    zero = sign_checkpoint(store, cid, key, size=0)
    assert zero.head == genesis_hash(store.chain(cid).header)
    with pytest.raises(UsageError, match="not the stored hash"):
        sign_checkpoint(store, cid, key, size=3, head=bytes(32))
    with pytest.raises(UsageError, match="flush"):
        sign_checkpoint(store, cid, key, size=99)


def test_recorder_style_periodic_checkpoints(store):
    """What `theater record --sign-key K --checkpoint-every N` does with this API."""
    from theater.chain import canonical_json

    key = generate_key("recorder")
    w = store.create_chain({"actor": "a", "format": 1, "seed": 1}, batch=1000)
    for i in range(10):
        w.append("host:x#y", canonical_json({"i": i}))
        if (i + 1) % 4 == 0:
            w.flush()
            sign_checkpoint(store, w.chain_id, key, size=w.length, head=w.head)
    w.finish("completed")
    sign_checkpoint(store, w.chain_id, key, size=w.length, head=w.head)
    from verify.audit import audit_chain

    r = audit_chain(store, w.chain_id, keys=[key.public()])
    assert r.ok and [c["size"] for c in r.checkpoints] == [4, 8, 11]


# -- the CLI ---------------------------------------------------------------------


@pytest.fixture
def signed(tmp_path):
    """A database with one 20-event chain, a key pair and a checkpoint file."""
    db = tmp_path / "c.db"
    key = generate_key("auditor")
    write_key_pair(tmp_path / "k", key)
    cpf = tmp_path / "cp.txt"
    with Store(db) as s:
        cid = write_chain(s, 20)
        cpf.write_text(sign_checkpoint(s, cid, key).text)
    return db, cid, tmp_path / "k.key", tmp_path / "k.pub", cpf


def verify(db, *args):
    r = run_cli("verify", "--db", str(db), "--json", *args)
    return r.returncode, (orjson.loads(r.stdout) if r.stdout else None), r.stderr


def test_keygen_cli(tmp_path):
    r = run_cli("keygen", "--out", str(tmp_path / "x"))
    assert r.returncode == 0
    priv = (tmp_path / "x.key").read_text().strip()
    assert stat.S_IMODE(os.stat(tmp_path / "x.key").st_mode) == 0o600
    # PRIVATE+KEY+<name>+<key id>+<base64>: base64 may itself hold "+", so split 4 times only
    secret = priv.split("+", 4)[4]
    assert secret not in r.stdout and secret not in r.stderr
    assert r.stdout.strip() == (tmp_path / "x.pub").read_text().strip()
    again = run_cli("keygen", "--out", str(tmp_path / "x"))
    assert again.returncode == 2 and "exists" in again.stderr
    assert (tmp_path / "x.key").read_text().strip() == priv
    forced = run_cli("keygen", "--out", str(tmp_path / "x"), "--force")
    assert forced.returncode == 0 and stat.S_IMODE(os.stat(tmp_path / "x.key").st_mode) == 0o600


def test_keygen_checkpoint_verify_end_to_end(tmp_path):
    db = tmp_path / "e.db"
    with Store(db) as s:
        cid = write_chain(s, 6)
    assert run_cli("keygen", "--out", str(tmp_path / "k"), "--name", "e2e").returncode == 0
    cpf = tmp_path / "cp.txt"
    r = run_cli("checkpoint", cid, "--key", str(tmp_path / "k.key"), "--db", str(db), "--out", str(cpf))
    assert r.returncode == 0 and r.stdout == "" and "written" in r.stderr
    assert parse_checkpoint(cpf.read_text()).size == 7
    r = run_cli("verify", "--db", str(db), "--key", str(tmp_path / "k.pub"), "--checkpoint", str(cpf))
    assert r.returncode == 0 and "2 signed checkpoint(s) hold (size 7, 7)" in r.stdout


def test_verify_with_key_and_checkpoint(signed):
    db, cid, _, pub, cpf = signed
    code, out, _ = verify(db, "--key", str(pub), "--checkpoint", str(cpf))
    assert code == 0 and out["ok"]
    assert [c["status"] for c in out["checkpoints"]] == ["ok", "ok"]
    assert out["checkpoints"][0]["signers"][0].startswith("auditor+")


def test_truncation_below_a_checkpoint(signed):
    db, cid, _, pub, cpf = signed
    with Store(db) as s:  # a careful tamperer: cut the tail, fix the cache, drop the stored checkpoint
        truncate(s, cid, 15)
        delete_checkpoints(s)
    assert verify(db)[0] == 0  # a prefix verifies: only a checkpoint can tell
    code, out, _ = verify(db, "--key", str(pub), "--checkpoint", str(cpf))
    assert code == 1
    p = out["problem"]
    assert (p["class"], p["seq"], p["expected"], p["computed"]) == ("truncated", 15, "21", "15")
    code, out, _ = verify(db, "--key", str(pub))  # the stored checkpoint was deleted too
    assert code == 1 and out["problem"]["class"] == "bad_signature"


def test_rewritten_history_is_a_fork(signed):
    db, cid, _, pub, cpf = signed
    with Store(db) as s:  # change event 7 and re-hash everything after it
        head = rewrite_from(s, cid, 7)
    assert verify(db)[0] == 0
    code, out, err = verify(db, "--key", str(pub), "--checkpoint", str(cpf))
    assert code == 1
    p = out["problem"]
    assert (p["class"], p["seq"]) == ("fork", 20) and "rewritten" in p["message"]
    assert p["computed"] == head.hex() and len(p["evidence"]) == 2


def test_two_conflicting_checkpoints_are_a_fork(signed, tmp_path):
    db, cid, key, pub, cpf = signed
    from theater.checkpoint import load_private_key as lpk

    other = sign_note(checkpoint_body(cid, 21, bytes(32)), [lpk(key)])
    (tmp_path / "other.txt").write_text(other)
    code, out, _ = verify(db, "--key", str(pub), "--checkpoint", str(tmp_path / "other.txt"))
    assert code == 1
    forks = [p for p in out["problems"] if p["class"] == "fork"]
    assert forks[0]["seq"] == 20 and {e["head"] for e in forks[0]["evidence"]} == {
        parse_checkpoint(cpf.read_text()).head.hex(), bytes(32).hex()}
    # a smaller checkpoint that the chain, matching a larger one, contradicts
    small = sign_note(checkpoint_body(cid, 5, bytes(32)), [lpk(key)])
    (tmp_path / "small.txt").write_text(small)
    code, out, _ = verify(db, "--key", str(pub), "--checkpoint", str(tmp_path / "small.txt"))
    assert code == 1 and out["problem"]["class"] == "fork" and out["problem"]["seq"] == 4
    assert "cannot both be on one chain" in out["problem"]["message"]
    assert len(out["problem"]["evidence"]) == 2


def test_bad_signatures(signed, tmp_path):
    db, cid, key, pub, cpf = signed
    with Store(db) as s:  # someone edits the stored note's size
        s.conn.execute("UPDATE checkpoints SET note = replace(note, ?, ?)", ("\n21\n", "\n20\n"))
    code, out, _ = verify(db, "--key", str(pub))
    assert code == 1 and out["problem"]["class"] == "bad_signature"
    # a checkpoint only an unknown key signed is no evidence at all
    stranger = tmp_path / "s"
    write_key_pair(stranger, generate_key("stranger"))
    code, out, _ = verify(db, "--key", str(stranger) + ".pub", "--checkpoint", str(cpf))
    assert code == 1 and all(p["class"] == "bad_signature" for p in out["problems"])
    assert "no signature by a known key" in out["problem"]["message"]


def test_checkpoint_for_a_missing_chain(signed):
    db, cid, _, pub, cpf = signed
    with Store(db) as s:
        s.delete_chain(cid)
    code, out, _ = verify(db, "--key", str(pub), "--checkpoint", str(cpf))
    assert code == 1 and (out["problem"]["class"], out["problem"]["seq"]) == ("truncated", 0)


@pytest.mark.parametrize("args,msg", [
    (("--checkpoint", "{cpf}"), "needs --key"),
    (("--key", "{cpf}"), "is not a public key file"),
    (("--key", "{pub}", "--checkpoint", "{pub}"), "not a signed note"),
    (("--key", "{pub}", "--checkpoint", "{cpf}", "0000"), "no chain matches"),
])
def test_usage_errors_exit_2(signed, args, msg):
    db, cid, _, pub, cpf = signed
    r = run_cli("verify", "--db", str(db), *[a.format(cpf=cpf, pub=pub) for a in args])
    assert r.returncode == 2 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_checkpoint_of_another_chain_given_with_chain_is_usage(signed):
    db, cid, _, pub, cpf = signed
    with Store(db) as s:
        other = write_chain(s, 2, actor="other")
    r = run_cli("verify", other, "--db", str(db), "--key", str(pub), "--checkpoint", str(cpf))
    assert r.returncode == 2 and "is a checkpoint of chain" in r.stderr


def test_cli_refuses_to_sign_a_tampered_chain(signed):
    db, cid, key, _, _ = signed
    with Store(db) as s:
        set_event(s, cid, 3, data=b"\x00")
    r = run_cli("checkpoint", cid, "--key", str(key), "--db", str(db))
    assert r.returncode == 1 and "refusing" in r.stderr and r.stdout == ""
    with Store(db) as s:
        assert len(stored_checkpoints(s, cid)) == 1


def test_checkpoint_cli_prints_note_and_lists(signed):
    db, cid, key, pub, _ = signed
    r = run_cli("checkpoint", cid[:6], "--key", str(key), "--db", str(db), "--size", "4")
    assert r.returncode == 0 and r.stdout.startswith(f"theater/{cid}\n4\n")
    assert parse_checkpoint(r.stdout).size == 4
    r = run_cli("checkpoints", cid, "--db", str(db), "--json")
    assert [c["size"] for c in orjson.loads(r.stdout)] == [4, 21]
    assert run_cli("checkpoint", cid, "--key", str(key), "--db", str(db), "--size", "99").returncode == 2
    code, out, _ = verify(db, "--key", str(pub))
    assert code == 0 and len(out["checkpoints"]) == 2
