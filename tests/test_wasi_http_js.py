"""componentize-js's own HTTP client (issue 15, the rest, items 1, 2 and 4): the JS actor
fixtures/actors/http_js calls ``fetch()`` (StarlingMonkey's, over
``wasi:http/outgoing-handler@0.2.10``) against a real local server, recorded by a real
``theater record``; then the server is stopped, every socket blocked, and ``replay
--verify`` is identical. One request's body is a ReadableStream written in several
chunks, one response is read chunk by chunk with ``body.getReader()``: both recorded
whole. Built with componentize-js once per machine and cached outside git
(fixtures/toolchains.py); skipped, saying why, only where the npm tools cannot be
installed."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import run_cli
from http_helpers import local_server, network_blocked

from fixtures.toolchains import ToolchainMissing, build_js_fetch_actor
from theater.store import Store

BIG = 300_000
CHUNKS = ['{"prompt": ', '"sent in ', 'three chunks"}']


def _b64(v: str) -> bytes:
    return base64.b64decode(v.removeprefix("base64:"))


def js_manifest(tmp: Path, *, allowed: list[str]) -> Path:
    try:
        built = build_js_fetch_actor()
    except ToolchainMissing as e:
        pytest.skip(f"the componentize-js fetch fixture cannot be built here: {e}")
    wasm = tmp / "http_js.wasm"
    if not wasm.exists():
        shutil.copyfile(built, wasm)
    m = tmp / "http_js.toml"
    m.write_text('name = "http-js"\nversion = "0.1.0"\ncomponent = "http_js.wasm"\n'
                 '[[handler]]\ntype = "runtime"\n\n[[handler]]\ntype = "random"\nseed = 7\n\n'
                 '[[handler]]\ntype = "timing"\nstart_time = 1767225600\n\n'
                 '[[handler]]\ntype = "environment"\n\n[[handler]]\ntype = "wasi-http"\n\n'
                 f'[[handler]]\ntype = "http-client"\nallowed_hosts = {json.dumps(allowed)}\n')
    return m


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One ``theater record`` of four fetches and one refused one; the servers are
    stopped when it returns."""
    tmp = tmp_path_factory.mktemp("wasihttp-js")
    db = tmp / "js.db"
    with local_server() as server, local_server() as other:
        server.big = BIG
        m = js_manifest(tmp, allowed=[f"127.0.0.1:{server.port}"])
        specs = [
            {"url": f"{server.base}/tool?n=1"},
            {"url": f"{server.base}/v1/chat", "method": "POST", "body": '{"prompt": "one piece"}',
             "headers": {"content-type": "application/json"}},
            {"url": f"{server.base}/v1/chat", "method": "POST", "chunks": CHUNKS},
            {"url": f"{server.base}/big", "read": "chunks"},
            {"url": f"{other.base}/tool"},  # a host:port not allowed
        ]
        args = [a for s in specs for a in ("--request", json.dumps(s))]
        res = run_cli("record", str(m), "--db", str(db), "--json", "-q", *args)
        seen, other_seen = list(server.seen), list(other.seen)
    assert res.returncode == 0, res.stdout + res.stderr
    with Store(db) as s:
        events = [(e.type, orjson.loads(e.data)) for e in s.events(s.resolve("last").id, 0, None)]
    answers = [orjson.loads(_b64(d["result"]["ok"][1][0]["some"])) for t, d in events
               if t == "export:theater:simple/message-server-client#handle-request"]
    outgoing = [d for t, d in events if t.startswith("host:wasi:http/outgoing-handler@0.2.10#handle")]
    return {"db": db, "seen": seen, "other_seen": other_seen, "events": events, "answers": answers,
            "outgoing": outgoing}


def test_js_fetch_calls_a_local_server_recorded_with_bodies(recording: dict[str, Any]) -> None:
    """issue 15, the rest, items 1 and 4: componentize-js's fetch() goes out through
    wasi:http/outgoing-handler under ``theater record``; each request is one host event
    holding the whole request and response, bodies included, as the server saw them."""
    seen, outgoing, answers = recording["seen"], recording["outgoing"], recording["answers"]
    assert [(s.method, s.path) for s in seen] == [("GET", "/tool?n=1"), ("POST", "/v1/chat"), ("POST", "/v1/chat"),
                                                  ("GET", "/big")]
    assert len(outgoing) == 5
    assert answers[0] == {**answers[0], "status": 200, "body": "tool result for /tool?n=1"}
    assert orjson.loads(answers[1]["body"]) == {"answer": "you said one piece", "authorized": False}
    for ev, s in zip(outgoing[:4], seen, strict=True):
        req, resp = ev["args"]["req"], ev["result"]["ok"]
        assert req["method"] == s.method and req["uri"].endswith(s.path)
        sent = b"" if req["body"] is None else _b64(req["body"]["some"])
        assert sent == s.body
        assert resp["status"] == 200
    assert _b64(outgoing[0]["result"]["ok"]["body"]["some"]) == b"tool result for /tool?n=1"
    assert dict(outgoing[1]["args"]["req"]["headers"])["content-type"] == "application/json"
    kinds = {t for t, _ in recording["events"]}
    assert not [t for t in kinds if "wasi:http/types" in t or "wasi:io/streams" in t]


def test_a_body_written_and_read_in_chunks_is_recorded_whole(recording: dict[str, Any]) -> None:
    """issue 15, the rest, item 2: a request body the actor writes as a ReadableStream of
    three chunks reaches the server whole and is recorded whole, in one event; a
    300 kB response the actor reads chunk by chunk (more than one chunk) is recorded
    whole and handed over byte for byte."""
    seen, outgoing, answers = recording["seen"], recording["outgoing"], recording["answers"]
    assert seen[2].body == "".join(CHUNKS).encode()
    assert _b64(outgoing[2]["args"]["req"]["body"]["some"]) == "".join(CHUNKS).encode()
    assert orjson.loads(answers[2]["body"]) == {"answer": "you said sent in three chunks", "authorized": False}
    assert _b64(outgoing[3]["result"]["ok"]["body"]["some"]) == b"x" * BIG
    assert answers[3]["body"] == "x" * BIG and answers[3]["chunks"] > 1


def test_a_host_not_allowed_is_a_recorded_error_never_a_request(recording: dict[str, Any]) -> None:
    """issue 15, the rest, item 1: fetch() of a host:port not allowed fails in the actor
    (a TypeError, as fetch reports a network error); the error-code is recorded and the
    server there never saw a request."""
    assert recording["other_seen"] == []
    denied = recording["outgoing"][4]
    assert denied["result"]["err"] == {"case": "HTTP-request-denied", "value": None}
    assert "error" in recording["answers"][4]


def test_js_fetch_replays_offline_identical(recording: dict[str, Any]) -> None:
    """issue 15, the rest, item 1: with the servers stopped and every socket blocked,
    ``replay --verify`` answers each fetch from the recording: identical, nothing opened."""
    with network_blocked() as attempts:
        r = run_cli("replay", "last", "--db", str(recording["db"]), "--verify")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "identical to the recording" in r.stdout
    assert attempts == []
