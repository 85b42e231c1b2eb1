"""``theater serve`` (issue 15 item 2) and ``theater events --follow`` (item 3): a real
client drives the http_service fixture actor in a real ``python -m theater serve``
process (the process boundary is the point: a port, signals); the chain verifies and
replay reproduces every response without opening a port."""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest
from conftest import run_cli
from http_helpers import network_blocked, service_manifest

from theater.convention import REJECTED_TYPE
from theater.store import Store

REQUESTS = 200
MAX_BODY = 1000


class Served:
    """A ``theater serve`` subprocess, its port and its stderr lines."""

    def __init__(self, manifest: Path, db: Path, *extra: str) -> None:
        env = {k: v for k, v in os.environ.items() if k != "THEATER_DB"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "theater", "serve", str(manifest), "--db", str(db), "--port", "0", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=manifest.parent)
        self.lines: list[str] = []
        self.port = 0
        ready = threading.Event()

        def read() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.lines.append(line)
                m = re.search(r"serving .* on http://127\.0\.0\.1:(\d+)/", line)
                if m:
                    self.port = int(m.group(1))
                    ready.set()
            ready.set()

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        ready.wait(180)
        assert self.port, "".join(self.lines)
        self.base = f"http://127.0.0.1:{self.port}"

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str]:
        self.proc.send_signal(signum)
        out, _ = self.proc.communicate(timeout=60)
        self.reader.join(10)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        return self.proc.returncode, out


def _raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _exports(db: Path, chain: str):
    s = Store(db)
    try:
        evs = list(s.events(chain))
    finally:
        s.close()
    return evs


class Lines:
    """A subprocess's stdout lines, each with the monotonic time it was read."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.got: list[tuple[float, str]] = []
        self.cond = threading.Condition()
        self.done = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.cond:
                self.got.append((time.monotonic(), line))
                self.cond.notify_all()
        self.done.set()

    def wait(self, test, timeout: float = 60) -> float:
        """The time of the first line that makes ``test(lines so far)`` true."""
        with self.cond:
            ok = self.cond.wait_for(lambda: any(test(self.got[: i + 1]) for i in range(len(self.got))), timeout)
            assert ok, f"no such line in {len(self.got)} lines"
            return next(self.got[i][0] for i in range(len(self.got)) if test(self.got[: i + 1]))


def _exports_seen(lines) -> int:
    return sum("#handle-request" in line for _, line in lines)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """200 requests from a real client, a malformed request and a body over the limit
    in the middle, an ``events --follow`` reader watching, then SIGTERM."""
    tmp = tmp_path_factory.mktemp("serve")
    m = service_manifest(tmp)
    db = tmp / "serve.db"
    served = Served(m, db, "--max-body", str(MAX_BODY))
    answers: list[tuple[str, str, bytes, httpx.Response]] = []
    refused: list[bytes] = []
    follow_lag: list[float] = []
    follow = None
    try:
        with httpx.Client(base_url=served.base, timeout=30) as client:
            for i in range(REQUESTS):
                if i == 100:  # malformed, then a body over the limit: 4xx, and the server stays up
                    refused.append(_raw(served.port, b"NOT HTTP AT ALL\r\n\r\n"))
                    refused.append(_raw(served.port, b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: "
                                        + str(MAX_BODY + 1).encode() + b"\r\n\r\n" + b"y" * (MAX_BODY + 1)))
                    follow = subprocess.Popen(
                        [sys.executable, "-m", "theater", "events", "last", "--db", str(db), "--follow"],
                        stdout=subprocess.PIPE, text=True, cwd=tmp,
                        env={k: v for k, v in os.environ.items() if k != "THEATER_DB"})
                    lines = Lines(follow)
                    # the reader is up once it has printed what is committed so far
                    lines.wait(lambda got: REJECTED_TYPE in got[-1][1] and "413" not in got[-1][1]
                               and sum(REJECTED_TYPE in x for _, x in got) == 2)
                sent = time.monotonic()
                if i % 4 == 1:
                    body = f"payload {i} ".encode() * (i % 7 + 1)
                    answers.append(("POST", "/echo", body, client.post("/echo", content=body)))
                elif i % 4 == 2:
                    answers.append(("GET", "/count", b"", client.get("/count")))
                elif i % 4 == 3 and i % 20 == 3:
                    answers.append(("GET", "/missing", b"", client.get("/missing?x=1")))
                else:
                    answers.append(("GET", "/hello", b"", client.get("/hello")))
            # the last request's event was committed after `sent`: an upper bound of the lag
            seen = lines.wait(lambda got: _exports_seen(got) == REQUESTS)
            follow_lag.append(seen - sent)
    finally:
        code, out = served.stop()
        if follow is not None:
            follow.wait(30)
            lines.done.wait(10)
            assert follow.stdout is not None
            follow.stdout.close()
    return tmp, db, answers, refused, follow_lag, code, out, served.lines, follow


def test_serve_answers_200_real_requests_and_the_chain_verifies(session):
    """issue 15 item 2: every request answered by the actor, in order (its counters
    prove it), one chain, ended cleanly by SIGTERM (exit 0), and it verifies."""
    tmp, db, answers, _, _, code, out, lines, _ = session
    assert code == 0, "".join(lines)
    assert len(answers) == REQUESTS
    echoed = 0
    for _, path, body, resp in answers:
        if path == "/echo":
            echoed += 1
            assert resp.status_code == 200 and resp.content == body
            assert resp.headers["x-count"] == str(echoed)  # one at a time, in arrival order
        elif path == "/hello":
            assert resp.status_code == 200 and resp.text == "hello from the actor\n"
        elif path == "/count":
            assert resp.status_code == 200 and orjson.loads(resp.content)["echoed"] == echoed
        else:
            assert resp.status_code == 404
    assert "completed" in out and f"{REQUESTS} requests, 2 refused" in out
    r = run_cli("verify", "last", "--db", str(db))
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_chain_holds_every_request_and_response_whole(session):
    """issue 15 item 2: each export event is the full request and the full response."""
    _, db, answers, _, _, _, _, _, _ = session
    s = Store(db)
    chain = s.resolve("last").id
    s.close()
    calls = [ev.payload() for ev in _exports(db, chain) if ev.type.endswith("http-handlers#handle-request")]
    assert len(calls) == REQUESTS
    for (method, path, body, resp), call in zip(answers, calls, strict=True):
        handler_id, req = call["args"]["params"]
        assert handler_id == 0 and req["method"] == method and req["uri"].split("?")[0] == path
        assert ["host", f"127.0.0.1:{resp.url.port}"] in [[k.lower(), v] for k, v in req["headers"]]
        if method == "POST":
            assert base64.b64decode(req["body"]["some"].removeprefix("base64:")) == body
        recorded = call["result"]["ok"][1][0]
        assert recorded["status"] == resp.status_code
        assert base64.b64decode((recorded["body"] or {"some": "base64:"})["some"].removeprefix("base64:")) \
            == resp.content


def test_malformed_and_oversized_requests_get_4xx_are_recorded_and_the_server_stays_up(session):
    """issue 15 item 2: a malformed request and a body over --max-body are answered
    400 and 413, recorded as rejected events in arrival order, and later requests
    are still served (the 100 after them)."""
    _, db, answers, refused, _, _, _, _, _ = session
    assert refused[0].startswith(b"HTTP/1.1 400")
    assert refused[1].startswith(b"HTTP/1.1 413")
    s = Store(db)
    chain = s.resolve("last").id
    s.close()
    evs = _exports(db, chain)
    rejected = [ev for ev in evs if ev.type == REJECTED_TYPE]
    assert [ev.payload()["status"] for ev in rejected] == [400, 413]
    assert rejected[1].payload()["request"]["uri"] == "/echo"
    before = [ev for ev in evs if ev.seq < rejected[0].seq and ev.type.endswith("#handle-request")]
    assert len(before) == 100
    assert all(resp.status_code in (200, 404) for _, _, _, resp in answers[100:])


def test_replay_reproduces_every_response_without_opening_a_port(session):
    """issue 15 item 2: replay --verify feeds the recorded requests to the actor; every
    response is compared (identical heads); no socket is created."""
    _, db, _, _, _, _, _, _, _ = session
    with network_blocked() as attempts:
        r = run_cli("replay", "last", "--db", str(db), "--verify")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verified: identical to the recording" in r.stdout
    assert attempts == []


def test_events_follow_shows_a_running_serve_within_a_second(session):
    """issue 15 item 3: ``theater events --follow`` printed the last request's event
    within a second of its commit, and ended by itself at the end event."""
    *_, follow_lag, _, _, _, follow = session
    assert follow_lag and follow_lag[0] < 1.0
    assert follow.returncode == 0


def test_follow_in_process_prints_each_event_once_until_the_end(tmp_path):
    """issue 15 item 3: --follow on a finished chain prints every event once and
    returns at its end event; --json gives one object per line."""
    from conftest import write_chain

    s = Store(tmp_path / "f.db")
    cid = write_chain(s, 5)
    s.close()
    r = run_cli("events", cid, "--db", str(tmp_path / "f.db"), "--follow")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 6 and r.stdout.splitlines()[-1].endswith("end")
    r = run_cli("events", cid, "--db", str(tmp_path / "f.db"), "--follow", "--json", "--from", "2")
    assert [orjson.loads(line)["seq"] for line in r.stdout.splitlines()] == [2, 3, 4, 5]


def test_sigint_ends_the_chain_cleanly_too(tmp_path):
    """issue 15 item 2: Ctrl-C (SIGINT) ends the serve chain with an end event, exit 0;
    a chunked body reaches the actor whole, and one over the limit is a 413."""
    m = service_manifest(tmp_path)
    served = Served(m, tmp_path / "s.db", "--max-body", "64")
    try:
        assert httpx.get(f"{served.base}/hello", timeout=30).status_code == 200
        chunked = httpx.post(f"{served.base}/echo", content=iter([b"part one, ", b"part two"]), timeout=30)
        assert chunked.status_code == 200 and chunked.content == b"part one, part two"
        big = httpx.post(f"{served.base}/echo", content=iter([b"z" * 40, b"z" * 40]), timeout=30)
        assert big.status_code == 413
    finally:
        code, out = served.stop(signal.SIGINT)
    assert code == 0 and "2 requests, 1 refused" in out and "completed" in out
    r = run_cli("replay", "last", "--db", str(tmp_path / "s.db"), "--verify")
    assert r.returncode == 0, r.stdout + r.stderr


def test_serve_refuses_an_actor_without_http_handlers(tmp_path):
    """issue 15 item 2: one line, exit 2-class error, no chain."""
    from actors import wat_manifest

    r = run_cli("serve", str(wat_manifest(tmp_path, "counter")), "--db", str(tmp_path / "x.db"), "--port", "0")
    assert r.returncode == 2 and "http-handlers#handle-request" in r.stderr and "Traceback" not in r.stderr


def test_a_port_in_use_is_one_line_and_no_chain(tmp_path):
    """issue 15 item 2: the port is bound before the chain exists."""
    m = service_manifest(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = run_cli("serve", str(m), "--db", str(tmp_path / "p.db"), "--port", str(port))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and f"cannot listen on 127.0.0.1:{port}" in r.stderr
    listed = run_cli("chains", "--db", str(tmp_path / "p.db"), "--json")
    assert listed.returncode != 0 or orjson.loads(listed.stdout) == []


def test_a_kept_alive_connection_after_the_stop_gets_503_at_once(tmp_path):
    """issue 15 item 2: after the chain ended, a request on a connection the client kept
    alive is answered 503 at once (it used to wait for an actor that takes no more)."""
    from theater.manifest import load_manifest
    from theater.runtime import Interrupt
    from theater.serve import serve

    stop = Interrupt()
    bound: list[int] = []
    up = threading.Event()
    results: list[object] = []

    def run() -> None:  # the store and the actor belong to the serving thread
        store = Store(tmp_path / "k.db")
        try:
            results.append(serve(load_manifest(service_manifest(tmp_path)), store, port=0, interrupt=stop,
                                 on_ready=lambda h, p: (bound.append(p), up.set())))
        finally:
            store.close()

    t = threading.Thread(target=run)
    t.start()
    try:
        assert up.wait(120)
        with httpx.Client(base_url=f"http://127.0.0.1:{bound[0]}", timeout=10) as client:
            assert client.get("/hello").status_code == 200
            stop.request(signal.SIGTERM)
            t.join(60)
            assert results and results[0].requests == 1 and results[0].outcome == "completed"
            assert client.get("/hello").status_code == 503
    finally:
        stop.request()
        t.join(60)
