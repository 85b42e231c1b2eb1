"""wasi:http benchmark (issue 15, docs/performance.md): ``theater serve`` of the
componentize-py ``proxy`` world actor (fixtures/actors/http_proxy), requests/s against
the same actor's ``wasi:http/incoming-handler#handle`` called in process, unrecorded."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest
from test_wasi_http import proxy_manifest
from wasmtime.component import ResourceHost

from theater.boundary import Boundary
from theater.handlers import build_handlers
from theater.manifest import load_manifest
from theater.runtime import ActorInstance, load_actor_component, resource_codec
from theater.wasihttp import INCOMING, RESOURCE_TYPES, http_state_of

from .conftest import alternate
from .report import Row
from .test_bench_http import ROUNDS, NullWriter

pytestmark = pytest.mark.bench

N = 300  # requests per round
REQUEST = {"method": "GET", "uri": "/hello", "headers": [["host", "bench"]], "scheme": "http",
           "authority": "bench", "body": None}


def test_serve_proxy_world_requests_per_second(benchmark, tmp_path, table):
    """serve of a wasi:http proxy-world actor (HTTP + one recorded export event + a
    commit per request) against the same export called in process, unrecorded."""
    manifest = proxy_manifest(tmp_path, allowed=[])
    m = load_manifest(manifest)
    handlers = build_handlers(m)
    loaded = load_actor_component(m, handlers)
    state = http_state_of(loaded.plan)
    assert state is not None
    actor = ActorInstance(loaded.component, loaded.plan, Boundary(NullWriter(), resources=resource_codec(loaded.plan)),
                          fuel=m.fuel, memory=m.memory)
    found = actor.export(INCOMING, "handle")
    assert found is not None
    _, func, _ = found

    def bare() -> float:
        t = time.perf_counter()
        for _ in range(N):
            state.reset()
            req, out = state.incoming_request(REQUEST), state.outparam()
            actor.store.set_fuel(actor.fuel)
            func(actor.store, ResourceHost.own(req, RESOURCE_TYPES["incoming-request"]),
                 ResourceHost.own(out, RESOURCE_TYPES["response-outparam"]))
            assert state.response_json(out)["ok"]["status"] == 200
        return time.perf_counter() - t

    env = {k: v for k, v in os.environ.items() if k != "THEATER_DB"}
    proc = subprocess.Popen([sys.executable, "-m", "theater", "serve", str(manifest), "--db", str(tmp_path / "b.db"),
                             "--port", "0", "-q"], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=env, cwd=tmp_path)
    assert proc.stderr is not None
    port = 0
    for line in proc.stderr:
        found_port = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if found_port:
            port = int(found_port.group(1))
            break
    assert port
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    try:
        def served(_: Any) -> None:
            for _ in range(N):
                assert client.get("/hello").status_code == 200

        base, measured, _ = alternate(benchmark, bare, served, rounds=ROUNDS)
    finally:
        client.close()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    rps, bare_rps = N / measured, N / base
    table(Row(
        "serve, wasi:http proxy world: requests/s (HTTP, recorded, one commit per request)", f"{rps:,.0f} req/s",
        f"unrecorded in-process call: {bare_rps:,.0f} calls/s", f"{rps / bare_rps:.2f}x", order=20,
        notes=[f"{N} keep-alive GETs from one httpx client per round, best of {ROUNDS}"],
    ))
