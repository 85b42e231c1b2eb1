"""Real HTTP servers on 127.0.0.1 for the HTTP tests (issue 15), and manifests for the
HTTP fixture actors (fixtures/actors/http_agent, fixtures/actors/http_service)."""

from __future__ import annotations

import contextlib
import http.server
import json
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fixtures.build import build_actor


@dataclass
class Seen:
    """One request a test server received, as it arrived."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class LocalServer:
    """A real threading HTTP server on 127.0.0.1 that logs what it received."""

    port: int
    seen: list[Seen] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)  # /slow waits for it
    big: int = 0  # size of /big's body

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _handler(state: LocalServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes (delayed ACK: 40 ms)

        def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _serve(self) -> None:
            n = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(n) if n else b""
            state.seen.append(Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            path = self.path.split("?")[0]
            if path == "/v1/chat":
                auth = self.headers.get("authorization", "")
                prompt = json.loads(body or b"{}").get("prompt", "")
                out = {"answer": f"you said {prompt}", "authorized": auth.startswith("Bearer sk-")}
                self._reply(200, json.dumps(out, sort_keys=True).encode(),
                            {"content-type": "application/json", "x-request": str(len(state.seen))})
            elif path == "/tool":
                self._reply(200, b"tool result for " + self.path.encode(), {"content-type": "text/plain"})
            elif path == "/redirect":
                target = self.path.split("?to=", 1)[1] if "?to=" in self.path else "/tool"
                self._reply(302, b"", {"location": target})
            elif path == "/big":
                self._reply(200, b"x" * state.big)
            elif path == "/slow":
                state.release.wait(10)
                self._reply(200, b"late")
            else:
                self._reply(404, b"no such route")

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextlib.contextmanager
def local_server() -> Iterator[LocalServer]:
    state = LocalServer(port=0)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    srv.daemon_threads = True
    state.port = srv.server_address[1]
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield state
    finally:
        state.release.set()
        srv.shutdown()
        srv.server_close()
        t.join(5)


@contextlib.contextmanager
def network_blocked() -> Iterator[list[tuple[Any, ...]]]:
    """Inside: creating any socket raises (a guard that proves nothing opens one; the
    attempts are listed). Not a mock of the client: nothing answers in its place."""
    attempts: list[tuple[Any, ...]] = []
    real = socket.socket

    class Blocked(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            attempts.append(args)
            raise OSError("network blocked by the test")

    socket.socket = Blocked  # type: ignore[misc]
    try:
        yield attempts
    finally:
        socket.socket = real  # type: ignore[misc]


BASE_HANDLERS = """
[[handler]]
type = "runtime"

[[handler]]
type = "random"
seed = 7
"""


def agent_manifest(tmp: Path, base: str, *, allowed: list[str], client_extra: str = "",
                   env_extra: str = "", name: str = "agent") -> Path:
    """A manifest for the http_agent fixture actor calling ``base``."""
    wasm = tmp / "http_agent.wasm"
    if not wasm.exists():
        shutil.copyfile(build_actor("http_agent"), wasm)
    body = (f'name = "{name}"\nversion = "0.1.0"\ncomponent = "{wasm.name}"\n' + BASE_HANDLERS
            + f'\n[[handler]]\ntype = "environment"\nvars = {{ AGENT_BASE_URL = "{base}" }}\n{env_extra}\n'
            + f'\n[[handler]]\ntype = "http-client"\nallowed_hosts = {json.dumps(allowed)}\n{client_extra}\n')
    path = tmp / f"{name}.toml"
    path.write_text(body)
    return path


def service_manifest(tmp: Path, *, name: str = "service", extra: str = "") -> Path:
    """A manifest for the http_service fixture actor (theater serve)."""
    wasm = tmp / "http_service.wasm"
    if not wasm.exists():
        shutil.copyfile(build_actor("http_service"), wasm)
    body = (f'name = "{name}"\nversion = "0.1.0"\ncomponent = "{wasm.name}"\n{extra}\n' + BASE_HANDLERS
            + '\n[[handler]]\ntype = "environment"\n')
    path = tmp / f"{name}.toml"
    path.write_text(body)
    return path
