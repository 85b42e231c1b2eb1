"""Served requests redacted (issue 15, the rest, item 3) for an actor that exports
upstream's ``theater:simple/http-handlers#handle-request`` (fixtures/actors/http_service)
under a real ``python -m theater serve``: the http-client handler's ``redact_headers``
(granted with no allowed hosts, only for them) apply to the requests it answers. The
actor gets the real value live; the chain holds the token wherever the value appears,
and replay feeds the token and gets the recording back."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import httpx
import orjson
import pytest
from conftest import run_cli
from http_helpers import network_blocked
from test_http_serve import Served

from fixtures.build import build_actor
from theater.store import Store

SECRET = "sk-served-2c8e5a1f9b3d7e6a0c4f"


def _manifest(tmp: Path) -> Path:
    wasm = tmp / "http_service.wasm"
    shutil.copyfile(build_actor("http_service"), wasm)
    m = tmp / "service.toml"
    m.write_text('name = "service"\nversion = "0.1.0"\ncomponent = "http_service.wasm"\n'
                 '[[handler]]\ntype = "runtime"\n\n[[handler]]\ntype = "random"\nseed = 7\n\n'
                 '[[handler]]\ntype = "environment"\n\n'
                 '[[handler]]\ntype = "http-client"\nallowed_hosts = []\nredact_headers = ["Authorization"]\n')
    return m


def test_served_requests_to_handle_request_are_redacted(tmp_path: Path) -> None:
    """issue 15, the rest, item 3: the authorization header of a served request, and its
    key in the body (which /echo sends back; the key after ``Bearer`` is a secret of its
    own), are tokens in the chain; the client got the real bytes from the live actor; no
    database file holds the secret; replay --verify with sockets blocked is identical
    (the replayed actor echoes the token)."""
    db = tmp_path / "served.db"
    served = Served(_manifest(tmp_path), db)
    try:
        with httpx.Client(base_url=served.base, timeout=60) as client:
            echo = client.post("/echo", content=f"key={SECRET}".encode(),
                               headers={"authorization": f"Bearer {SECRET}"})
            hello = client.get("/hello", headers={"authorization": f"Bearer {SECRET}"})
    finally:
        code, _ = served.stop()
    assert code == 0, "".join(served.lines)
    assert echo.status_code == 200 and echo.content == f"key={SECRET}".encode()
    assert hello.status_code == 200
    with Store(db) as s:
        calls = [orjson.loads(e.data) for e in s.events(s.resolve("last").id, 0, None)
                 if e.type == "export:theater:simple/http-handlers#handle-request"]
    assert len(calls) == 2
    req = calls[0]["args"]["params"][1]
    auth = dict(req["headers"])["authorization"]
    assert auth.startswith("redacted:")
    body = base64.b64decode(req["body"]["some"].removeprefix("base64:"))
    assert body.startswith(b"key=redacted:") and SECRET.encode() not in body  # the key alone: its own token
    assert dict(calls[1]["args"]["params"][1]["headers"])["authorization"] == auth
    files = [f for f in tmp_path.iterdir() if f.name.startswith(db.name)]
    assert files
    for f in files:
        raw = f.read_bytes()
        assert SECRET.encode() not in raw and base64.b64encode(SECRET.encode())[:16] not in raw, f
    with network_blocked() as attempts:
        r = run_cli("replay", "last", "--db", str(db), "--verify")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "identical to the recording" in r.stdout and attempts == []


@pytest.mark.parametrize("headers", [["authorization"], []])
def test_the_redactor_learns_only_under_redact_headers(headers: list[str]) -> None:
    """issue 15, the rest, item 3: Redactor.learn makes a served header value a secret,
    replaced by its token in any later value; without redacted headers nothing is."""
    from theater.redact import Redactor

    r = Redactor(salt=b"0123456789abcdef", headers=frozenset(headers), learns=True)
    r.learn(r.incoming([("Authorization", "Bearer abc123xyz"), ("x-other", "plain")]))
    out = r.scrub({"echo": "got Bearer abc123xyz", "key": "abc123xyz", "other": "plain"})
    if headers:
        assert out == {"echo": "got " + r.token("Bearer abc123xyz"), "key": r.token("abc123xyz"), "other": "plain"}
    else:
        assert out == {"echo": "got Bearer abc123xyz", "key": "abc123xyz", "other": "plain"}


def test_a_redacted_trailer_of_an_outgoing_request_is_a_token() -> None:
    """issue 15, the rest, items 2 and 3: the refused trailers of a wasi:http request are
    recorded with it; a trailer named in redact_headers is recorded as its token, as the
    header of that name is."""
    from theater.redact import Redactor

    r = Redactor(salt=b"0123456789abcdef", headers=frozenset({"authorization"}))
    transform = r.for_crossing("theater:simple/http-client", "send-http")
    assert transform is not None
    req = {"method": "POST", "uri": "http://h/", "headers": [["authorization", "k1"]], "body": None}
    out = transform[0]({"req": req, "trailers": [["authorization", "k2"], ["x-sum", "3"]]})
    assert out["req"]["headers"] == [["authorization", r.token("k1")]]
    assert out["trailers"] == [["authorization", r.token("k2")], ["x-sum", "3"]]
