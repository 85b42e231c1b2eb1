"""wasi:http (issue 15 items 1 and 2, the wasi:http part): the componentize-py ``proxy``
world actor fixtures/actors/http_proxy, served by a real ``python -m theater serve``
process and driven by a real client, answers through ``wasi:http/types`` and sends
requests of its own through componentize-py's wasi:http client (``poll_loop.send``) to
a real local server. Each request is one event, the chain verifies, and replay
reproduces every answer with the server stopped and the network blocked."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import httpx
import orjson
import pytest
from conftest import run_cli
from http_helpers import local_server, network_blocked
from test_http_serve import Served, _raw

from fixtures.build import build_actor
from theater.convention import REJECTED_TYPE
from theater.store import Store
from theater.wasihttp import FIRST_REP, HttpState

REQUESTS = 120
MAX_BODY = 4096
SECRET = "sk-proxy-5e2d8c1b9a7f6e4d3c2b1a09"


def proxy_manifest(tmp: Path, *, allowed: list[str], client: bool = True, http: bool = True) -> Path:
    wasm = tmp / "http_proxy.wasm"
    if not wasm.exists():
        shutil.copyfile(build_actor("http_proxy"), wasm)
    body = ('name = "proxy"\nversion = "0.1.0"\ncomponent = "http_proxy.wasm"\n'
            '[[handler]]\ntype = "runtime"\n\n[[handler]]\ntype = "random"\nseed = 7\n\n'
            '[[handler]]\ntype = "environment"\nallowed_vars = ["PROXY_API_KEY"]\n')
    if http:
        body += '\n[[handler]]\ntype = "wasi-http"\n'
    if client:
        body += (f'\n[[handler]]\ntype = "http-client"\nallowed_hosts = {json.dumps(allowed)}\n'
                 'redact_headers = ["authorization"]\nredact_env = ["PROXY_API_KEY"]\n')
    path = tmp / "proxy.toml"
    path.write_text(body)
    return path


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """REQUESTS requests from a real client, a fifth of them making an outgoing request
    through the actor's own wasi:http client to a real local server; then SIGTERM and
    both local servers stopped."""
    tmp = tmp_path_factory.mktemp("wasihttp")
    db = tmp / "proxy.db"
    answers: list[tuple[str, str, bytes, httpx.Response]] = []
    with local_server() as upstream, local_server() as other, pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROXY_API_KEY", SECRET)
        m = proxy_manifest(tmp, allowed=[f"127.0.0.1:{upstream.port}"])
        served = Served(m, db, "--max-body", str(MAX_BODY))
        refused: list[bytes] = []
        try:
            with httpx.Client(base_url=served.base, timeout=60) as client:
                for i in range(REQUESTS):
                    if i == 60:  # a body over --max-body: 413 before the actor, recorded, the server stays up
                        refused.append(_raw(served.port, b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: "
                                            + str(MAX_BODY + 1).encode() + b"\r\n\r\n" + b"y" * (MAX_BODY + 1)))
                    k = i % 6
                    if k == 0:
                        answers.append(("GET", "/hello", b"", client.get("/hello")))
                    elif k == 1:
                        body = f"payload {i} ".encode() * (i % 5 + 1)
                        answers.append(("POST", "/echo", body,
                                        client.post("/echo", content=body, headers={"x-token": f"t{i}"})))
                    elif k == 2:
                        answers.append(("GET", "/count", b"", client.get("/count")))
                    elif k == 3:
                        url = f"{upstream.base}/tool?n={i}"
                        answers.append(("GET", "/fetch", url.encode(), client.get("/fetch", params={"url": url})))
                    elif k == 4:
                        body = json.dumps({"prompt": f"question {i}"}).encode()
                        answers.append(("POST", "/fetch", body, client.post(
                            "/fetch", params={"url": f"{upstream.base}/v1/chat"}, content=body)))
                    elif i % 30 == 5:
                        url = f"{other.base}/tool"  # a host:port not allowed
                        answers.append(("GET", "/denied", url.encode(), client.get("/fetch", params={"url": url})))
                    elif i % 30 == 11:
                        answers.append(("GET", "/fail", b"", client.get("/fail")))
                    else:
                        answers.append(("GET", "/missing", b"", client.get("/missing?x=1")))
        finally:
            code, out = served.stop()
        upstream_seen, other_seen = list(upstream.seen), list(other.seen)
    return tmp, db, answers, code, out, served.lines, upstream_seen, other_seen, refused


def _events(db: Path):
    s = Store(db)
    try:
        return list(s.events(s.resolve("last").id))
    finally:
        s.close()


def test_a_proxy_world_actor_answers_real_requests_and_the_chain_verifies(session):
    """issue 15 item 2 (wasi:http/incoming-handler): every request answered through
    wasi:http/types, one at a time in arrival order (the actor's counters prove it); a
    body over --max-body is a 413 recorded in its place, the server stays up; SIGTERM
    ends the chain cleanly and it verifies (replay carries the rejection over)."""
    _, db, answers, code, out, lines, _, _, refused = session
    assert code == 0, "".join(lines)
    assert "completed" in out and f"{REQUESTS} requests, 1 refused" in out
    assert refused[0].startswith(b"HTTP/1.1 413")
    assert [ev.type for ev in _events(db)].count(REJECTED_TYPE) == 1
    echoed = seen = 0
    for method, path, body, resp in answers:
        seen += 1
        if path == "/hello":
            assert resp.status_code == 200 and resp.text == "hello from the proxy actor\n"
        elif path == "/echo":
            echoed += 1
            assert resp.status_code == 200 and resp.content == body
            assert resp.headers["x-count"] == str(echoed)
            assert resp.headers["x-token-seen"].startswith("t")
        elif path == "/count":
            assert resp.status_code == 200
            assert orjson.loads(resp.content) == {"echoed": echoed, "requests": seen}
        elif path == "/fetch" and method == "GET":
            url = body.decode()
            assert resp.status_code == 200 and resp.text == "200\ntool result for " + url[url.index("/tool"):]
        elif path == "/fetch":
            prompt = orjson.loads(body)["prompt"]
            status, _, rest = resp.text.partition("\n")
            assert resp.status_code == 200 and status == "200"
            assert orjson.loads(rest) == {"answer": f"you said {prompt}", "authorized": True}
        elif path == "/denied":
            assert resp.status_code == 502 and "HttpRequestDenied" in resp.text
        elif path == "/fail":
            assert resp.status_code == 500 and "internal-error" in resp.text
        else:
            assert resp.status_code == 404
    r = run_cli("verify", "last", "--db", str(db))
    assert r.returncode == 0, r.stdout + r.stderr


def test_each_request_is_one_event_holding_the_whole_request_and_answer(session):
    """issue 15 items 1 and 2: one export event per served request, one host event per
    outgoing request, each whole; the wasi:http/types and body-stream calls are not
    recorded one by one (not one event per chunk)."""
    _, db, answers, _, _, _, upstream_seen, _, _ = session
    events = _events(db)
    types = [ev.type for ev in events]
    assert not [t for t in types if "wasi:http/types" in t or "wasi:io/streams" in t]
    exports = [ev.payload() for ev in events if ev.type.startswith("export:wasi:http/incoming-handler@0.2.")]
    assert len(exports) == REQUESTS
    for (method, path, body, resp), call in zip(answers, exports, strict=True):
        req = call["args"]["request"]
        assert req["method"] == method
        assert req["uri"].split("?")[0] == ("/fetch" if path == "/denied" else path)
        if path == "/echo":
            assert base64.b64decode(req["body"].removeprefix("base64:")) == body
        result = call["result"]
        if path == "/fail":
            assert result == {"err": {"case": "internal-error", "value": {"some": "the actor failed on purpose"}}}
            continue
        got = result["ok"]
        assert got["status"] == resp.status_code
        assert base64.b64decode(got["body"].removeprefix("base64:")) == resp.content
        assert dict(got["headers"])["content-type"] == resp.headers["content-type"]
    outgoing = [ev.payload() for ev in events if ev.type.startswith("host:wasi:http/outgoing-handler@0.2.")]
    fetches = [a for a in answers if a[1] in ("/fetch", "/denied")]
    assert len(outgoing) == len(fetches) and len(upstream_seen) == sum(a[1] == "/fetch" for a in fetches)
    posts = [o for o in outgoing if o["args"]["req"]["method"] == "POST"]
    for o, seen in zip(posts, [s for s in upstream_seen if s.method == "POST"], strict=True):
        sent = base64.b64decode(o["args"]["req"]["body"]["some"].removeprefix("base64:"))
        assert sent == seen.body  # the request body as the server got it
        answer = base64.b64decode(o["result"]["ok"]["body"]["some"].removeprefix("base64:"))
        assert orjson.loads(answer)["answer"] == "you said " + orjson.loads(sent)["prompt"]


def test_replay_reproduces_every_answer_offline(session):
    """issue 15 items 1 and 2: the local servers are stopped; with every socket blocked,
    ``replay --verify`` feeds the recorded requests and responses to the actor and gets
    the recording back identical."""
    _, db, _, _, _, _, _, _, _ = session
    with network_blocked() as attempts:
        r = run_cli("replay", "last", "--db", str(db), "--verify")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "identical to the recording" in r.stdout
    assert attempts == []


def test_a_host_not_allowed_is_a_recorded_error_code_never_a_request(session):
    """issue 15 item 1: an outgoing request to a host:port not in allowed_hosts is the
    error-code HTTP-request-denied, recorded, and the server there never saw it."""
    _, db, answers, _, _, _, _, other_seen, _ = session
    assert other_seen == []
    denied = [ev.payload() for ev in _events(db) if ev.type.startswith("host:wasi:http/outgoing-handler")
              and "err" in ev.payload()["result"]]
    assert len(denied) == sum(a[1] == "/denied" for a in answers) > 0
    for d in denied:
        assert d["result"]["err"] == {"case": "HTTP-request-denied", "value": None}
        assert "host not allowed" in d["result"]["message"]


def test_a_redacted_header_never_reaches_the_database(session):
    """issue 15 item 1: the actor sends ``authorization: Bearer $PROXY_API_KEY``; the
    server got the secret, the database files hold only its token."""
    tmp, db, _, _, _, _, upstream_seen, _, _ = session
    assert upstream_seen and all(s.headers["authorization"] == f"Bearer {SECRET}" for s in upstream_seen)
    found = 0
    for f in tmp.iterdir():
        if f.name.startswith(db.name):
            raw = f.read_bytes()
            found += 1
            assert SECRET.encode() not in raw and base64.b64encode(SECRET.encode())[:20] not in raw, f
    assert found
    outgoing = [ev.payload() for ev in _events(db) if ev.type.startswith("host:wasi:http/outgoing-handler")]
    auth = [v for o in outgoing for k, v in o["args"]["req"]["headers"] if k == "authorization"]
    assert auth and all(v.startswith("redacted:") for v in auth)


def test_serving_a_proxy_world_actor_needs_the_wasi_http_handler(tmp_path):
    """issue 15 item 2: without a wasi-http handler, serve refuses with one line (exit 2)."""
    m = proxy_manifest(tmp_path, allowed=[], http=False)
    r = run_cli("serve", str(m), "--db", str(tmp_path / "x.db"), "--port", "0")
    assert r.returncode == 2, r.stdout + r.stderr
    assert 'type = "wasi-http"' in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_fields_follow_wasi_http():
    """issue 15 item 1: wasi:http/types fields: case-insensitive names, invalid names
    refused, a message's headers immutable, bodies and streams taken once."""
    st = HttpState()
    f = st.fields_from_list({"entries": [["Content-Type", "base64:" + base64.b64encode(b"text/plain").decode()]]})
    assert f["ok"]["rep"] >= FIRST_REP
    h = f["ok"]
    assert st.fields_get({"self": h, "name": "content-type"}) == ["base64:dGV4dC9wbGFpbg=="]
    assert st.fields_has({"self": h, "name": "CONTENT-TYPE"}) is True
    assert st.fields_append({"self": h, "name": "bad name", "value": "base64:"}) == {
        "err": {"case": "invalid-syntax", "value": None}}
    assert st.fields_from_list({"entries": [["x", "base64:" + base64.b64encode(b"a\r\nb").decode()]]})["err"]
    resp = st.oresp_new({"headers": h})
    assert st.fields_append({"self": h, "name": "x", "value": "base64:"}) == {
        "err": {"case": "immutable", "value": None}}
    child = st.msg_headers({"self": resp})
    assert st.fields_set({"self": child, "name": "x", "value": []}) == {"err": {"case": "immutable", "value": None}}
    assert "ok" in st.msg_body_out({"self": resp}) and st.msg_body_out({"self": resp}) == {"err": None}
    assert st.oresp_set_status({"self": resp, "status-code": 700}) == {"err": None}
