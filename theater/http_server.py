"""The HTTP front of ``theater serve``: a standard-library threading server whose
request threads only parse and wait. Each request (or a refusal: malformed, body over
the limit) becomes an :class:`Arrival` put on one FIFO queue in arrival order; the
thread that owns the actor (theater/serve.py) takes them one at a time, records them
and sets the answer, which the request thread writes back.

Why the standard library's server and not an ASGI server: the actor runs one request
at a time on one thread, so the server only has to parse and queue; measured on the
same machine (tests/bench/test_bench_http.py::test_bare_servers, docs/http.md) the
stdlib server answers a trivial request in about the time the recorded actor call
takes, and an ASGI server would add an event loop, a second dependency and its own
signal handling for no gain in what the actor can serve.
"""

from __future__ import annotations

import http.server
import queue
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from .canonical import encode_tagged_bytes
from .errors import HttpLimit

DEFAULT_MAX_BODY = 1024 * 1024
WAIT_FOR_ACTOR = 300.0  # seconds a request thread waits for its answer before a 503
_HOP_HEADERS = {"connection", "content-length", "transfer-encoding", "keep-alive"}


@dataclass
class Arrival:
    """One request as it arrived: ``request`` (method, uri, headers, body) for the
    actor, or ``rejected`` (status, reason, what could be read) for a refusal."""

    request: tuple[str, str, list[tuple[str, str]], bytes | None] | None = None
    rejected: dict[str, Any] | None = None
    trailers: list[tuple[str, str]] | None = None  # a chunked body's trailer section, if it had one
    done: threading.Event = field(default_factory=threading.Event)
    status: int = 503
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b"theater: the actor did not answer\n"

    def answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body
        self.done.set()


def _read_chunked(rfile: Any, limit: int, trailers: list[tuple[str, str]] | None = None) -> bytes:
    """A ``transfer-encoding: chunked`` body, at most ``limit`` bytes; the trailer
    section's fields are appended to ``trailers`` (latin-1 text pairs)."""
    out = bytearray()
    while True:
        line = rfile.readline(1026)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise HttpLimit(400, "malformed chunk size") from None
        if size == 0:
            room = 64 * 1024  # the trailer section, like the header section, is bounded
            while (field_line := rfile.readline(65537)) not in (b"\r\n", b"\n", b""):
                room -= len(field_line)
                name, colon, value = field_line.decode("latin-1").partition(":")
                if room < 0 or not colon or not name.strip() or name != name.strip():
                    raise HttpLimit(400, "malformed or oversized trailer section")
                if trailers is not None:
                    trailers.append((name, value.strip()))
            return bytes(out)
        if len(out) + size > limit:
            raise HttpLimit(413, f"request body over the limit of {limit} bytes")
        chunk = rfile.read(size)
        if len(chunk) != size:
            raise HttpLimit(400, "truncated chunk")
        out += chunk
        rfile.readline(3)


def make_server(host: str, port: int, arrivals: queue.Queue[Arrival], *, max_body: int,
                closed: threading.Event | None = None) -> Any:
    """A bound :class:`http.server.ThreadingHTTPServer` feeding ``arrivals``; once
    ``closed`` is set, a request still arriving on a kept-alive connection is answered
    503 at once instead of waiting for an actor that no longer takes requests."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body are two writes: without TCP_NODELAY, Nagle's algorithm holds
        # the body until the client's delayed ACK (40 ms a request on Linux)
        disable_nagle_algorithm = True
        _dispatched = False

        def version_string(self) -> str:
            return "theater-serve"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the chain is the log

        def _wait(self, arrival: Arrival) -> None:
            if closed is not None and closed.is_set():
                self.close_connection = True
                arrival.answer(503, [], b"theater: the server has stopped\n")
            else:
                arrivals.put(arrival)
                arrival.done.wait(WAIT_FOR_ACTOR)
            self._dispatched = True
            try:
                self.send_response(arrival.status)
                for k, v in arrival.headers:
                    if k.lower() not in _HOP_HEADERS:
                        self.send_header(k, v)
                self.send_header("content-length", str(len(arrival.body)))
                if self.close_connection:
                    self.send_header("connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(arrival.body)
            except (ValueError, OSError):  # a header the actor made that HTTP cannot carry; a gone client
                self.close_connection = True

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """A request the parser refused (bad syntax, headers too long): recorded like
            every arrival, then answered."""
            if self._dispatched:
                return super().send_error(code, message, explain)
            self.close_connection = True
            if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
                self.request_version = "HTTP/1.1"  # answer garbage with a status line, as servers do
            raw = bytes(getattr(self, "raw_requestline", b"") or b"")[:1024]

            rejected = {"status": code, "reason": message or "", "line": encode_tagged_bytes(raw)}
            body = f"theater: {code} {message or ''}\n".encode()
            self._wait(Arrival(rejected=rejected, status=code, body=body))

        def _serve(self) -> None:
            headers = list(self.headers.items())
            length = self.headers.get("content-length")
            chunked = "chunked" in (self.headers.get("transfer-encoding") or "").lower()
            head = {"method": self.command, "uri": self.path, "headers": [list(h) for h in headers]}
            body: bytes | None = None
            trailers: list[tuple[str, str]] = []
            try:
                if chunked:
                    body = _read_chunked(self.rfile, max_body, trailers)
                elif length is not None:
                    if not length.strip().isdigit():
                        raise HttpLimit(400, f"invalid content-length {length[:40]!r}")
                    n = int(length)
                    if n > max_body:
                        raise HttpLimit(413, f"request body over the limit of {max_body} bytes")
                    body = self.rfile.read(n)
                    if len(body) != n:
                        raise HttpLimit(400, "the body ended before content-length")
            except HttpLimit as e:
                self.close_connection = True  # an unread or broken body cannot be skipped safely
                self._reject(e.status, e.reason, head)
                return
            self._wait(Arrival(request=(self.command, self.path, headers, body), trailers=trailers or None))

        def _reject(self, status: int, reason: str, head: dict[str, Any]) -> None:
            self._wait(Arrival(rejected={"status": status, "reason": reason, "request": head}, status=status,
                               body=f"theater: {status} {reason}\n".encode()))

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        address_family = family

    return Server((host, port), Handler)
