"""The rest of wasi:http (issue 15, the rest, items 2 to 5), on the componentize-py
``proxy`` actor fixtures/actors/http_proxy served by a real ``python -m theater serve``
and driven by a real client, its outgoing requests going to a real local server:

- item 5: a request whose response is never asked for is sent (at ``handle``, as
  wasmtime-wasi sends it) and recorded;
- item 2: request trailers (``outgoing-body.finish`` given trailers) are refused with a
  recorded error-code, never sent; a served request's trailers (a chunked body's trailer
  section) are recorded with it and handed to the actor; a served response's trailers
  are refused by ``finish`` and noted in the recorded answer;
- item 3: the redacted header names apply to served requests: the chain holds tokens,
  the actor received the real values live and receives the tokens in replay (replay
  --verify is identical), and the database files never hold the secrets;
- item 4: ``replay --override ... --then-live`` of this proxy-world chain goes on live
  at the first difference: the requests after it are answered by the actor again and
  its outgoing requests really sent.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from conftest import run_cli
from http_helpers import local_server, network_blocked
from test_http_serve import Served, _raw

from fixtures.build import build_actor
from theater.convention import REJECTED_TYPE
from theater.store import Store
from theater.wasihttp import REQUEST_TRAILERS, RESPONSE_TRAILERS

MAX_BODY = 2048
SECRET = "sk-incoming-7f3a9c2e1b5d4a6f8e0c"  # an incoming authorization header's key
X_TOKEN = "tok-x-4b1e9d7c3a5f2e8d6c"  # an incoming x-token header (echoed by /echo)
INCOMING = "export:wasi:http/incoming-handler@0.2.3#handle"


def _b64(v: str) -> bytes:
    return base64.b64decode(v.removeprefix("base64:"))


def _manifest(tmp: Path, allowed: list[str]) -> Path:
    wasm = tmp / "http_proxy.wasm"
    if not wasm.exists():
        shutil.copyfile(build_actor("http_proxy"), wasm)
    path = tmp / "proxy.toml"
    path.write_text('name = "proxy"\nversion = "0.1.0"\ncomponent = "http_proxy.wasm"\n'
                    '[[handler]]\ntype = "runtime"\n\n[[handler]]\ntype = "random"\nseed = 7\n\n'
                    '[[handler]]\ntype = "environment"\n\n[[handler]]\ntype = "wasi-http"\n\n'
                    f'[[handler]]\ntype = "http-client"\nallowed_hosts = {json.dumps(allowed)}\n'
                    'redact_headers = ["authorization", "x-token"]\n')
    return path


def _events(db: Path, chain: str = "last") -> list[tuple[str, Any]]:
    with Store(db) as s:
        return [(e.type, orjson.loads(e.data)) for e in s.events(s.resolve(chain).id, 0, None)]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One serve session; the upstream server stays up for the module (the --then-live
    test sends to it again), the served actor is stopped with SIGTERM."""
    tmp = tmp_path_factory.mktemp("wasihttp-rest")
    db = tmp / "rest.db"
    with local_server() as upstream, pytest.MonkeyPatch.context() as mp:
        mp.delenv("PROXY_API_KEY", raising=False)
        served = Served(_manifest(tmp, [f"127.0.0.1:{upstream.port}"]), db, "--max-body", str(MAX_BODY))
        got: dict[str, Any] = {}
        try:
            with httpx.Client(base_url=served.base, timeout=60) as client:
                got["fire"] = client.get("/fire", params={"url": f"{upstream.base}/tool?fired=1"})
                got["trailers"] = client.post("/trailers", params={"url": f"{upstream.base}/v1/chat"},
                                              content=b'{"prompt": "t"}')
                got["trailers_in"] = _raw(served.port, b"POST /trailers-in HTTP/1.1\r\nhost: x\r\n"
                                          b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
                                          b"5\r\nhello\r\n0\r\nx-checksum: 42\r\n\r\n")
                got["resp_trailers"] = client.get("/resp-trailers")
                got["echo"] = client.post("/echo", content=b"hello", headers={
                    "authorization": f"Bearer {SECRET}", "x-token": X_TOKEN})
                got["fetch6"] = client.get("/fetch", params={"url": f"{upstream.base}/tool?n=6"},
                                           headers={"authorization": f"Bearer {SECRET}"})
                got["refused"] = _raw(served.port, b"POST /echo HTTP/1.1\r\nhost: x\r\nauthorization: Bearer "
                                      + SECRET.encode() + b"\r\ncontent-length: " + str(MAX_BODY + 1).encode()
                                      + b"\r\n\r\n" + b"y" * (MAX_BODY + 1))
                got["fetch9"] = client.get("/fetch", params={"url": f"{upstream.base}/tool?n=9"})
                got["count"] = client.get("/count")
        finally:
            code, out = served.stop()
        assert code == 0, "".join(served.lines)
        with Store(db) as s:
            chain = s.resolve("last").id
        yield {"tmp": tmp, "db": db, "got": got, "upstream": upstream, "seen": list(upstream.seen),
               "events": _events(db), "chain": chain}


def _outgoing(events: list[tuple[str, Any]]) -> list[Any]:
    return [d for t, d in events if t.startswith("host:wasi:http/outgoing-handler@")]


def test_a_request_whose_response_is_never_asked_for_is_sent(session: dict[str, Any]) -> None:
    """issue 15, the rest, item 5: /fire calls outgoing-handler.handle and drops the
    future without asking for the response: the request is sent all the same (the server
    got it) and recorded, inside that served request, before its export event."""
    assert session["got"]["fire"].status_code == 202
    assert session["seen"][0].path == "/tool?fired=1"
    events = session["events"]
    first = next(i for i, (t, _) in enumerate(events) if t.startswith("host:wasi:http/outgoing-handler@"))
    assert events[first][1]["args"]["req"]["uri"].endswith("/tool?fired=1")
    assert events[first][1]["result"]["ok"]["status"] == 200
    t, d = next((t, d) for t, d in events[first + 1:] if t.startswith("export:"))
    assert t == INCOMING and d["args"]["request"]["uri"].startswith("/fire?")


def test_request_trailers_are_refused_with_a_recorded_error_code(session: dict[str, Any]) -> None:
    """issue 15, the rest, item 2: a request body finished with trailers (written in
    several writes) is never sent: its response is the error-code internal-error,
    recorded with the whole request and its trailers."""
    got = session["got"]["trailers"]
    assert got.status_code == 502 and "InternalError" in got.text
    assert [s.path for s in session["seen"]].count("/v1/chat") == 0
    refused = [d for d in _outgoing(session["events"]) if "trailers" in d["args"]]
    assert len(refused) == 1
    assert refused[0]["args"]["trailers"] == [["x-checksum", "15"]]
    assert _b64(refused[0]["args"]["req"]["body"]["some"]) == b'{"prompt": "t"}'
    assert refused[0]["result"]["err"] == {"case": "internal-error", "value": {"some": REQUEST_TRAILERS}}


def test_served_request_trailers_are_recorded_and_handed_over(session: dict[str, Any]) -> None:
    """issue 15, the rest, item 2: a chunked request's trailer section is recorded with
    the request and the actor reads it from incoming-body.finish; a response body
    finished with trailers gets finish's error-code, the answer notes the trailers."""
    raw = session["got"]["trailers_in"]
    assert raw.startswith(b"HTTP/1.1 200") and raw.endswith(b"x-checksum: 42\n")
    exports = [d for t, d in session["events"] if t == INCOMING]
    tin = next(d for d in exports if d["args"]["request"]["uri"] == "/trailers-in")
    assert tin["args"]["request"]["trailers"] == [["x-checksum", "42"]]
    assert _b64(tin["args"]["request"]["body"]) == b"hello"
    assert session["got"]["resp_trailers"].status_code == 200
    assert session["got"]["resp_trailers"].text == "a body with trailers\n"
    rt = next(d for d in exports if d["args"]["request"]["uri"] == "/resp-trailers")
    assert rt["result"]["ok"]["trailers_refused"] == [["x-t", "1"]]
    assert RESPONSE_TRAILERS.startswith("theater serve does not send response trailers")


def test_served_requests_are_redacted(session: dict[str, Any]) -> None:
    """issue 15, the rest, item 3: the redacted header names apply to served requests:
    the actor received the real x-token live (it echoed it to the client), the chain
    holds tokens in the request, in the echoed answer and in the refused request's
    record, and no database file holds either secret."""
    echo = session["got"]["echo"]
    assert echo.status_code == 200 and echo.headers["x-token-seen"] == X_TOKEN
    assert session["got"]["refused"].startswith(b"HTTP/1.1 413")
    events = session["events"]
    call = next(d for t, d in events if t == INCOMING and d["args"]["request"]["uri"] == "/echo")
    heads = dict((k.lower(), v) for k, v in call["args"]["request"]["headers"])
    assert heads["authorization"].startswith("redacted:") and heads["x-token"].startswith("redacted:")
    assert dict(call["result"]["ok"]["headers"])["x-token-seen"] == heads["x-token"]
    rejected = next(d for t, d in events if t == REJECTED_TYPE)
    assert dict(rejected["request"]["headers"])["authorization"].startswith("redacted:")
    files = [f for f in session["tmp"].iterdir() if f.name.startswith(session["db"].name)]
    assert files
    for f in files:
        raw = f.read_bytes()
        for secret in (SECRET, X_TOKEN):
            assert secret.encode() not in raw and base64.b64encode(secret.encode())[:16] not in raw, f


def test_the_redacted_serve_chain_replays_offline_identical(session: dict[str, Any]) -> None:
    """issue 15, the rest, items 2, 3 and 5: with every socket blocked, replay --verify
    feeds the recorded (tokenized) requests and trailers to the actor and answers its
    outgoing requests from the recording: identical (the echoed token matches)."""
    with network_blocked() as attempts:
        r = run_cli("replay", session["chain"], "--db", str(session["db"]), "--verify")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "identical to the recording" in r.stdout
    assert attempts == []
    assert run_cli("verify", session["chain"], "--db", str(session["db"])).returncode == 0


def test_then_live_on_a_proxy_world_chain(session: dict[str, Any]) -> None:
    """issue 15, the rest, item 4: ``replay --override SEQ=err --then-live`` on the
    proxy chain: the overridden outgoing response (/fetch n=6 now denied) makes the
    actor answer differently, the run goes on live from there, and the later /fetch
    (n=9) is really sent to the server again; the new chain verifies."""
    db, events = session["db"], session["events"]
    with Store(db) as s:
        source = session["chain"]
        seq = next(e.seq for e in s.events(source, 0, None) if e.type.startswith("host:wasi:http/outgoing-handler@")
                   and e.payload()["args"]["req"]["uri"].endswith("/tool?n=6"))
    before = len(session["upstream"].seen)
    override = json.dumps({"err": {"case": "HTTP-request-denied", "value": None}})
    r = run_cli("replay", source, "--db", str(db), "--override", f"{seq}={override}", "--then-live", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    out = orjson.loads(r.stdout)
    assert out["live_from"] is not None and out["live_from"] > seq
    new = _events(db, out["chain"])
    fetch6 = next(d for t, d in new if t == INCOMING and "n%3D6" in d["args"]["request"]["uri"])
    assert fetch6["result"]["ok"]["status"] == 502
    assert [s.path for s in session["upstream"].seen[before:]] == ["/tool?n=9"]
    fetch9 = [d for d in _outgoing(new) if d["args"]["req"]["uri"].endswith("/tool?n=9")]
    assert len(fetch9) == 1 and fetch9[0]["result"]["ok"]["status"] == 200
    assert len([t for t, _ in new if t == INCOMING]) == len([t for t, _ in events if t == INCOMING])
    v = run_cli("verify", out["chain"], "--db", str(db))
    assert v.returncode == 0, v.stdout + v.stderr


def test_then_live_goes_live_at_an_outgoing_request_that_differs(session: dict[str, Any]) -> None:
    """issue 15, the rest, item 4: an override of get-environment that gives the actor a
    PROXY_API_KEY makes its next outgoing request differ from the recorded one (an
    authorization header): with --then-live that request is where the run goes live
    (replay/fork.py ForkBoundary.local_crossing), it and the later one are really sent
    with the new key, and the what-if chain stores the header as a token (the fork's
    boundary redacts as the recording did)."""
    db = session["db"]
    with Store(db) as s:
        source = session["chain"]
        env = next(e.seq for e in s.events(source, 0, None) if e.type.endswith("#get-environment"))
        first = next(e.seq for e in s.events(source, 0, None) if e.type.startswith("host:wasi:http/outgoing-handler@")
                     and e.payload()["args"]["req"]["uri"].endswith("/tool?n=6"))
    before = len(session["upstream"].seen)
    key = "sk-override-0d9e4c2b"
    r = run_cli("replay", source, "--db", str(db), "--override", f"{env}={json.dumps([['PROXY_API_KEY', key]])}",
                "--then-live", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    out = orjson.loads(r.stdout)
    assert out["live_from"] == first
    sent = session["upstream"].seen[before:]
    assert [s.path for s in sent] == ["/tool?n=6", "/tool?n=9"]
    assert all(s.headers["authorization"] == f"Bearer {key}" for s in sent)
    new = _outgoing(_events(db, out["chain"]))
    auth = [v for d in new for k, v in d["args"]["req"]["headers"] if k == "authorization"]
    assert len(auth) == 2 and all(v.startswith("redacted:") for v in auth)
    v = run_cli("verify", out["chain"], "--db", str(db))
    assert v.returncode == 0, v.stdout + v.stderr
