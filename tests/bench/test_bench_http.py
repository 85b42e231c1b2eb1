"""HTTP benchmarks (issue 15 item 5, docs/performance.md): ``theater serve`` requests/s
against the same actor called without recording, the recorded outgoing call's overhead
against the bare httpx call, and the bare stdlib server against uvicorn."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from http_helpers import agent_manifest, local_server, service_manifest
from wasmtime.component import Record

from theater.boundary import Boundary
from theater.chain import make_header
from theater.convention import export_args
from theater.engine import load_component
from theater.handlers import build_handlers
from theater.handlers.http_client import HttpClientHandler
from theater.manifest import load_manifest
from theater.runtime import ActorInstance, handler_functions, load_imports, plan_imports, resource_codec
from theater.store import Store

from .conftest import alternate
from .report import Row

pytestmark = pytest.mark.bench

N = 300  # requests per round
ROUNDS = 3


class NullWriter:
    """A writer that keeps nothing: the actor called without recording."""

    def __init__(self) -> None:
        self.length = 0

    def append(self, type_: str, data: bytes) -> bytes:
        self.length += 1
        return b""


def _request(path: str = "/hello") -> Any:
    r = Record()
    for k, v in (("method", "GET"), ("uri", path), ("headers", [("host", "bench")]), ("body", None)):
        setattr(r, k, v)
    return r


def _bare_actor(manifest: Path) -> Any:
    m = load_manifest(manifest)
    handlers = build_handlers(m)
    comp = load_component(m.component.read_bytes())
    plan = plan_imports(load_imports(comp), [h.type for h in handlers], handler_functions(handlers))
    actor = ActorInstance(comp, plan, Boundary(NullWriter(), resources=resource_codec(plan)), fuel=m.fuel,
                          memory=m.memory)
    iface, fn, args = export_args("init", None, "bench", 0)
    status, value = actor.call(iface, fn, args)
    assert status == "ok"
    (state,) = value
    found = actor.export("theater:simple/http-handlers", "handle-request")
    assert found is not None
    _, func, _ = found
    return actor, func, state


def test_serve_requests_per_second(benchmark, tmp_path, table):
    """serve (HTTP + recording + a commit per request) against the same calls in process, unrecorded."""
    manifest = service_manifest(tmp_path)
    actor, func, state0 = _bare_actor(manifest)

    def bare() -> float:
        state = state0
        t = time.perf_counter()
        for _ in range(N):
            actor.store.set_fuel(actor.fuel)
            state, _resp = func(actor.store, state, (0, _request()))
        return time.perf_counter() - t

    env = {k: v for k, v in os.environ.items() if k != "THEATER_DB"}
    proc = subprocess.Popen([sys.executable, "-m", "theater", "serve", str(manifest), "--db", str(tmp_path / "b.db"),
                             "--port", "0", "-q"], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=env, cwd=tmp_path)
    assert proc.stderr is not None
    port = 0
    for line in proc.stderr:
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if m:
            port = int(m.group(1))
            break
    assert port
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    try:
        def served(_: Any) -> None:
            for _ in range(N):
                client.get("/hello")

        base, measured, _ = alternate(benchmark, bare, served, rounds=ROUNDS)
    finally:
        client.close()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    rps, bare_rps = N / measured, N / base
    table(Row(
        "serve: requests/s (HTTP, recorded, one commit per request)", f"{rps:,.0f} req/s",
        f"unrecorded in-process call: {bare_rps:,.0f} calls/s", f"{rps / bare_rps:.2f}x", order=20,
        notes=[f"{N} keep-alive GETs from one httpx client per round, best of {ROUNDS}"],
    ))


def test_outgoing_call_overhead(benchmark, tmp_path, table):
    """send-http through the boundary into a real chain, against the same httpx call bare."""
    with local_server() as srv:
        m = load_manifest(agent_manifest(tmp_path, srv.base, allowed=["127.0.0.1"]))
        comp = load_component(m.component.read_bytes())
        sig = load_imports(comp)["theater:simple/http-client"].funcs["send-http"]
        handler = next(h for h in build_handlers(m) if isinstance(h, HttpClientHandler))
        store = Store(tmp_path / "o.db")
        writer = store.create_chain(make_header(actor="bench", component_sha256="ab" * 32))
        boundary = Boundary(writer)
        wrapped = boundary.wrap_import("theater:simple/http-client", "send-http", sig, handler.send_http)
        req = Record()
        for k, v in (("method", "GET"), ("uri", f"{srv.base}/tool"), ("headers", [("accept", "text/plain")]),
                     ("body", None)):
            setattr(req, k, v)
        bare_client = httpx.Client(timeout=30)
        bare_client.headers.clear()
        try:
            def bare() -> float:
                t = time.perf_counter()
                for _ in range(N):
                    with bare_client.stream("GET", f"{srv.base}/tool", headers=[("accept", "text/plain")]) as r:
                        b"".join(r.iter_raw())
                return time.perf_counter() - t

            def recorded(_: Any) -> None:
                for _ in range(N):
                    wrapped(None, req)
                writer.flush()

            base, measured, _ = alternate(benchmark, bare, recorded, rounds=ROUNDS)
        finally:
            bare_client.close()
            handler.close()
            writer.abandon()
            store.close()
    per = (measured - base) / N * 1e6
    table(Row(
        "outgoing send-http: overhead per request (record, encode, hash, store)", f"{per:,.0f} µs",
        f"bare httpx call: {base / N * 1e6:,.0f} µs", f"{measured / base:.2f}x", order=21,
        notes=["the live request and its timeout/size checks are in both; the difference is theater's"],
    ))


def test_bare_servers(benchmark, table):
    """Why serve uses the stdlib server: a trivial answer from ThreadingHTTPServer
    against uvicorn (ASGI, h11), same client, same machine."""
    import http.server

    import uvicorn

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # as theater/http_server.py does

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-length", "5")
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *a: Any) -> None:
            pass

    stdlib = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stdlib.daemon_threads = True
    threading.Thread(target=stdlib.serve_forever, daemon=True).start()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]})
        await send({"type": "http.response.body", "body": b"hello"})

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="off", http="h11")
    server = uvicorn.Server(config)
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    while not server.started:
        time.sleep(0.01)
    uport = server.servers[0].sockets[0].getsockname()[1]
    a = httpx.Client(base_url=f"http://127.0.0.1:{stdlib.server_address[1]}")
    b = httpx.Client(base_url=f"http://127.0.0.1:{uport}")
    try:
        def via_uvicorn() -> float:
            t0 = time.perf_counter()
            for _ in range(N):
                b.get("/")
            return time.perf_counter() - t0

        def via_stdlib(_: Any) -> None:
            for _ in range(N):
                a.get("/")

        uv, std, _ = alternate(benchmark, via_uvicorn, via_stdlib, rounds=ROUNDS)
    finally:
        a.close()
        b.close()
        server.should_exit = True
        t.join(10)
        stdlib.shutdown()
        stdlib.server_close()
    table(Row(
        "bare HTTP server, trivial answer: stdlib ThreadingHTTPServer", f"{N / std:,.0f} req/s",
        f"uvicorn (h11): {N / uv:,.0f} req/s", f"{uv / std:.2f}x the speed", order=22,
        notes=["one keep-alive client; the serve row shows the actor call, not the server, bounds requests/s"],
    ))
