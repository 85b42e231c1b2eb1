"""Outgoing HTTP (issue 15 item 1): the http-client handler's send-http, recorded whole,
replayed without the network, hosts denied by default, secrets as tokens; its settings
against a real server on 127.0.0.1."""

from __future__ import annotations

import base64

import orjson
import pytest
from conftest import run_cli
from http_helpers import agent_manifest, local_server, network_blocked
from wasmtime.component import Record

from theater.handlers.http_client import HttpClientHandler, host_allowed
from theater.manifest import HandlerConfig, load_manifest
from theater.redact import TOKEN_PREFIX, Redactor
from theater.store import Store

SECRET = "sk-test-7c1f9a0d2b3e4f5a6b7c8d9e"


def _events(db, chain="last"):
    """(type, payload) of every event of a chain, read through the Store API."""
    s = Store(db)
    try:
        info = s.resolve(chain)
        return [(ev.type, ev.payload()) for ev in s.events(info.id)], orjson.loads(info.header)
    finally:
        s.close()


def _sends(db):
    return [p for t, p in _events(db)[0] if t.endswith("http-client#send-http")]


def _body(tagged):
    return base64.b64decode(tagged["some"].removeprefix("base64:"))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """One recording of the agent against a live local server, then the server stops."""
    tmp = tmp_path_factory.mktemp("agent")
    mp = pytest.MonkeyPatch()
    mp.setenv("AGENT_API_KEY", SECRET)
    try:
        with local_server() as srv, local_server() as other:
            m = agent_manifest(tmp, srv.base, allowed=[f"127.0.0.1:{srv.port}"],
                               env_extra='allowed_vars = ["AGENT_API_KEY"]',
                               client_extra='redact_headers = ["authorization"]\nredact_env = ["AGENT_API_KEY"]')
            db = tmp / "a.db"
            r = run_cli("record", str(m), "--db", str(db), "--send", "what is six times seven",
                        "--send", f"GET {other.base}/tool", "--request", "last", "--json")
            seen, other_seen = list(srv.seen), list(other.seen)
    finally:
        mp.undo()
    assert r.returncode == 0, r.stderr
    return tmp, m, db, seen, other_seen


def test_outgoing_calls_are_recorded_whole_and_replay_without_the_network(recorded):
    """issue 15 item 1: the whole request and response (status, headers, body) are in the
    chain; with the server gone and every socket refused, replay --verify is identical."""
    tmp, m, db, seen, _ = recorded
    calls = _sends(db)
    assert len(calls) == 3
    model, tool = calls[0], calls[1]
    req = model["args"]["req"]
    assert req["method"] == "POST" and req["uri"].endswith("/v1/chat")
    assert orjson.loads(_body(req["body"])) == {"prompt": "what is six times seven"}
    resp = model["result"]["ok"]
    assert resp["status"] == 200
    assert ["content-type", "application/json"] in [[k.lower(), v] for k, v in resp["headers"]]
    assert orjson.loads(_body(resp["body"])) == {"answer": "you said what is six times seven", "authorized": True}
    assert tool["result"]["ok"]["status"] == 200 and _body(tool["result"]["ok"]["body"]).startswith(b"tool result")
    # the server saw exactly these two requests, as the actor wrote them (no httpx headers added)
    assert [(s.method, s.path.split("?")[0]) for s in seen] == [("POST", "/v1/chat"), ("GET", "/tool")]
    assert "user-agent" not in seen[0].headers and seen[0].headers["content-type"] == "application/json"
    with network_blocked() as attempts:
        r = run_cli("replay", "last", "--db", str(db), "--verify")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verified: identical to the recording" in r.stdout
    assert attempts == []


def test_a_host_not_allowed_is_an_err_result_and_never_a_request(recorded):
    """issue 15 item 1: deny by default; the refusal is the recorded result and the other
    server never received anything."""
    _, _, db, _, other_seen = recorded
    denied = _sends(db)[2]
    assert denied["args"]["req"]["uri"].endswith("/tool") and "err" in denied["result"]
    assert denied["result"]["err"].startswith("host not allowed: 127.0.0.1:")
    assert other_seen == []


def test_a_redacted_header_and_env_var_never_reach_the_database(recorded):
    """issue 15 item 1 (secrets): the key never appears in the database file or its WAL;
    the recorded header and environment hold the token; the server got the real key."""
    tmp, _, db, seen, _ = recorded
    assert seen[0].headers["authorization"] == f"Bearer {SECRET}"
    Store(db).close()  # checkpoint the WAL into the file
    for f in tmp.glob("a.db*"):
        raw = f.read_bytes()
        assert SECRET.encode() not in raw and base64.b64encode(SECRET.encode())[:20] not in raw, f
    events, header = _events(db)
    env = dict(next(p for t, p in events if t.endswith("#get-environment"))["result"])
    assert env["AGENT_API_KEY"].startswith(TOKEN_PREFIX)
    auth = dict(_sends(db)[0]["args"]["req"]["headers"])["authorization"]
    assert auth.startswith(TOKEN_PREFIX) and len(auth) == len(TOKEN_PREFIX) + 64
    client = next(h for h in header["handlers"] if h["type"] == "http-client")
    assert len(bytes.fromhex(client["salt"])) == 16


def test_the_token_is_what_a_replayed_request_reproduces():
    """issue 15 item 1: in replay the actor holds the token where it held the secret; the
    header rule turns its request into the recorded one, and a different key does not."""
    salt = bytes(16)
    live = Redactor(salt=salt, headers=frozenset({"authorization"}), secrets=(SECRET,))
    replay = Redactor(salt=salt, headers=frozenset({"authorization"}))
    args_live, _ = live.for_crossing("theater:simple/http-client", "send-http")
    args_replay, _ = replay.for_crossing("theater:simple/http-client", "send-http")

    def req(auth, key):
        return {"req": {"method": "POST", "uri": f"http://h/?k={key}", "headers": [["Authorization", auth]],
                        "body": {"some": "base64:" + base64.b64encode(f"key={key}".encode()).decode()}}}

    recorded = args_live(req(f"Bearer {SECRET}", SECRET))
    token = live.token(SECRET)
    assert SECRET not in orjson.dumps(recorded).decode()
    assert recorded["req"]["uri"] == f"http://h/?k={token}"
    assert args_replay(req(f"Bearer {token}", token)) == recorded
    assert args_replay(req("Bearer other", token)) != recorded
    assert Redactor(salt=b"x" * 16).token(SECRET) != token


def test_a_redacted_env_var_set_in_the_manifest_is_refused(tmp_path):
    """issue 15 item 1: a secret written in the manifest would be stored with the header."""
    m = agent_manifest(tmp_path, "http://127.0.0.1:1", allowed=[], client_extra='redact_env = ["AGENT_BASE_URL"]')
    r = run_cli("record", str(m), "--db", str(tmp_path / "x.db"), "--send", "hi")
    assert r.returncode == 2
    assert "redact_env" in r.stderr and "allowed_vars" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.db").exists() or run_cli("chains", "--db", str(tmp_path / "x.db")).stdout.count(
        "agent") == 0


# -- the settings, against a real server (the live function, without a component) -------------

def _handler(tmp_path, **settings):
    (tmp_path / "m.toml").write_text('name = "h"\ncomponent = "x.wasm"\n')
    return HttpClientHandler(HandlerConfig("http-client", settings, 0), load_manifest(tmp_path / "m.toml"))


def _req(method, uri, headers=(), body=None):
    r = Record()
    r.method, r.uri, r.headers, r.body = method, uri, list(headers), body
    return r


def test_allowed_hosts_patterns():
    """issue 15 item 1: host, host:port and *.domain; nothing is allowed by default."""
    assert not host_allowed([], "127.0.0.1", 80)
    assert host_allowed(["127.0.0.1"], "127.0.0.1", 8080)
    assert not host_allowed(["127.0.0.1:81"], "127.0.0.1", 80)
    assert host_allowed(["*.example.com"], "api.example.com", 443)
    assert not host_allowed(["*.example.com"], "example.com.evil.net", 443)
    assert host_allowed(["[::1]:8080"], "::1", 8080)


def test_timeout_size_limit_and_redirects(tmp_path):
    """issue 15 item 1: timeout, max_response_bytes, follow_redirects / max_redirects,
    and a redirect to a host that is not allowed: each an err string, never a hang."""
    with local_server() as srv, local_server() as other:
        allowed = [f"127.0.0.1:{srv.port}"]
        h = _handler(tmp_path, allowed_hosts=allowed, timeout=0.3, max_response_bytes=1000)
        try:
            srv.big = 1001
            assert "larger than max_response_bytes (1000)" in h.send_http(None, _req("GET", f"{srv.base}/big"))
            srv.big = 1000
            ok = h.send_http(None, _req("GET", f"{srv.base}/big"))
            assert ok.status == 200 and ok.body == b"x" * 1000
            out = h.send_http(None, _req("GET", f"{srv.base}/slow"))
            assert isinstance(out, str) and out.startswith("timed out after 0.3 s"), out
            srv.release.set()
            moved = h.send_http(None, _req("GET", f"{srv.base}/redirect"))
            assert moved.status == 302 and dict(moved.headers)["location"] == "/tool"  # not followed by default
        finally:
            h.close()
        h = _handler(tmp_path, allowed_hosts=allowed, follow_redirects=True, max_redirects=1)
        try:
            done = h.send_http(None, _req("GET", f"{srv.base}/redirect"))
            assert done.status == 200 and done.body.startswith(b"tool result")
            away = h.send_http(None, _req("GET", f"{srv.base}/redirect?to={other.base}/tool"))
            assert away.startswith(f"redirect to {other.base}/tool: host not allowed"), away
            twice = h.send_http(None, _req("GET", f"{srv.base}/redirect?to=/redirect"))
            assert twice == "more than max_redirects (1) redirects"
            assert other.seen == []
            bad = h.send_http(None, _req("GET", "ftp://127.0.0.1/x"))
            assert "scheme 'ftp' not allowed" in bad
        finally:
            h.close()


def test_bad_settings_are_one_line_manifest_errors(tmp_path):
    """issue 15 item 1: settings of the wrong type or value are refused before a chain."""
    from theater.errors import ManifestError

    for settings, words in [({"allowed_hosts": "127.0.0.1"}, "must be list"),
                            ({"timeout": 0}, "must be positive"),
                            ({"salt": "zz"}, "`salt`"),
                            ({"allow": []}, "unknown setting")]:
        with pytest.raises(ManifestError, match=words):
            _handler(tmp_path, **settings)
