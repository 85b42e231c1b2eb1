"""One line in words per event (issue 17 item 2), on real recordings: the example
actor (runtime log, random, clocks, wasi:cli and wasi:io streams, exports), a run of
stage.wat actors (message-server, supervisor) and the HTTP agent against a live
local server (http-client)."""

from __future__ import annotations

import pytest
from actors import py_manifest
from conftest import run_cli
from http_helpers import agent_manifest, local_server
from system_helpers import stage_manifest

from theater.manifest import load_manifest
from theater.store import Store
from theater.summary import WIDTH, function_label, summary, value_text
from theater.system import RunInput, record_run


def summaries(db, chain="last"):
    with Store(db) as s:
        info = s.resolve(chain)
        return [(ev.seq, ev.type, summary(ev.type, ev.data)) for ev in s.events(info.id)]


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("example")
    db = tmp / "e.db"
    r = run_cli("record", str(py_manifest(tmp, "example", seed=42)), "--db", str(db),
                "--send", "hello", "--request", "status", "--send", "world")
    assert r.returncode == 0, r.stderr
    return summaries(db)


def test_example_actor_rows_say_what_happened(example):
    """issue 17 item 2: the issue's four examples, from a real recording."""
    lines = [s for _, _, s in example]
    assert 'log "example: send #1 (5 bytes)"' in lines
    assert "get-random-bytes(8) -> 8 B" in lines
    assert "now -> 2026-01-01 00:00:00.001" in lines
    assert 'handle-send("hello") -> ok' in lines
    assert 'init("example") -> ok' in lines
    assert lines[-1] == "end completed"
    assert any(s.startswith('handle-request("request-2", "status") -> ok') for s in lines)
    assert "get-stdout() -> #1" in lines  # a resource handle
    assert 'output-stream.write("example: got message 1: b\'hello\'") -> ok' in lines
    assert 'output-stream.write("\\x0a") -> ok' in lines  # a control character made inert
    assert "output-stream.check-write() -> ok 1048576" in lines


def test_message_server_and_supervisor_calls(tmp_path):
    """issue 17 item 2: every event of a run of stage.wat actors (spawn, send, request,
    the child's exports) has a specific summary, none the bare fallback."""
    stage_manifest(tmp_path, "worker")
    m = load_manifest(stage_manifest(tmp_path, "root"))
    with Store(tmp_path / "r.db") as store:
        r = record_run(m, store, inputs=[RunInput("send", b"Pworker.toml"), RunInput("send", b"Sworker hello"),
                                         RunInput("send", b"Rworker ping")])
        assert r.ok
        rows = [(ev.type, summary(ev.type, ev.data)) for c in r.chains for ev in store.events(c.chain)]
    by_fn = {}
    for type_, text in rows:
        by_fn.setdefault(function_label(type_), []).append(text)
    assert any(t.startswith('spawn("worker.toml"') or t.startswith("spawn(") for t in by_fn["spawn"])
    assert all(" -> " in t for t in by_fn["spawn"])
    assert any('"hello"' in t for t in by_fn["send"]), by_fn["send"]
    assert any('"ping"' in t for t in by_fn["request"]), by_fn["request"]
    assert any(t.startswith('handle-send("hello") -> ') for t in by_fn["handle-send"]), by_fn["handle-send"]
    for type_, text in rows:
        assert text and len(text) <= WIDTH and "\x1b" not in text, (type_, text)


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("agent")
    mp = pytest.MonkeyPatch()
    mp.setenv("AGENT_API_KEY", "sk-test-summary")
    try:
        with local_server() as srv:
            m = agent_manifest(tmp, srv.base, allowed=[f"127.0.0.1:{srv.port}"],
                               env_extra='allowed_vars = ["AGENT_API_KEY"]')
            db = tmp / "a.db"
            r = run_cli("record", str(m), "--db", str(db), "--send", "what is six times seven")
    finally:
        mp.undo()
    assert r.returncode == 0, r.stderr
    return summaries(db), srv.base


def test_http_client_calls(agent):
    """issue 17 item 2: send-http says the method, the URL and the status."""
    rows, base = agent
    sends = [s for _, t, s in rows if t.endswith("http-client#send-http")]
    assert sends, rows
    for s in sends:
        assert s.startswith("send-http(") and f"{base}" in s and ") -> 200" in s, s


def test_value_text_and_data_that_is_not_json():
    """issue 17 item 2: the generic forms (a custom interface, a tampered row)."""
    assert summary("host:my:own/api#frob", b'{"args":{"a":1,"b":[true]},"result":{"err":"no"}}') == \
        'frob(1, [true]) -> err "no"'
    assert summary("host:wasi:random/random@0.2.9#get-random-bytes", b"\x00\xff") == "(not JSON, 2 B)"
    assert value_text({"case": "timeout", "value": None}) == "timeout"
    assert value_text("base64:AAEC") == "3 B"
    assert value_text("x" * 100).endswith('…"') and len(value_text("x" * 100)) == 42
    assert function_label("host:wasi:io/streams@0.2.9#[resource-drop]output-stream") == "output-stream.drop"
