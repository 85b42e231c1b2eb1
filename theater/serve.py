"""``theater serve``: run an actor behind a real HTTP server and record every request.

The actor exports upstream's ``theater:simple/http-handlers#handle-request`` (and,
optionally, ``theater:simple/actor#init``, called first). One chain per serve session:
its export events hold each request whole (method, uri, headers, body) and the
actor's whole response; the state is threaded from request to request. Requests are
taken one at a time in arrival order from the server's queue (theater/http_server.py),
on the thread that owns the actor, and each is committed before it is answered, so
the chain is the faithful order of what was answered and a crash loses nothing that a
client was told.

A request the server refuses before the actor sees it (malformed, a body over
``max_body``) is answered 4xx and recorded as a ``serve:http#rejected`` event, which
replay carries over as recorded. An ``err`` from the actor is answered 500 and the
next request gets the state before it; a trap ends the session (trapped). A stop
request (Ctrl-C, SIGTERM) ends the chain cleanly with an end event (``completed``):
``theater replay CHAIN --verify`` then feeds the recorded requests to the actor,
opening no port, and compares every response.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from wasmtime.component import Record

from .boundary import Boundary
from .canonical import canonical_json, decode_tagged_bytes, encode_tagged_bytes
from .convention import ACTOR, HTTP_HANDLERS, REJECTED_TYPE, apply_result, end_detail, export_args
from .errors import ComponentError, Interrupted
from .handlers import build_handlers
from .handlers.random import RandomHandler
from .handlers.runtime import RuntimeHandler
from .http_server import DEFAULT_MAX_BODY, Arrival, make_server
from .manifest import Manifest
from .outcomes import EndOutcome
from .recorder import close_handlers, header_for, start_actor
from .redact import redactor_for
from .runtime import (
    Interrupt,
    check_export_signatures,
    load_actor_component,
    resource_codec,
)
from .store import Store
from .text import inert
from .wasihttp import INCOMING, http_state_of, serve_call

POLL = 0.05  # seconds between stop checks while no request waits


@dataclass(frozen=True, kw_only=True)
class ServeResult:
    """A finished serve session: its chain, how it ended, what it answered."""

    chain: str
    events: int
    head: bytes
    outcome: EndOutcome
    requests: int
    rejected: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome.ok

    def to_json(self) -> dict[str, Any]:
        return {"chain": self.chain, "events": self.events, "head": self.head.hex(), "outcome": self.outcome,
                "requests": self.requests, "rejected": self.rejected, "error": self.error}


def _record(method: str, uri: str, headers: list[tuple[str, str]], body: bytes | None) -> Any:
    rec = Record()
    for name, value in (("method", method), ("uri", uri), ("headers", headers), ("body", body)):
        setattr(rec, name, value)
    return rec


def _response(resp: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    status = int(resp.status)
    if not 100 <= status <= 599:
        return 500, [("content-type", "text/plain")], f"theater: the actor answered status {status}\n".encode()
    return status, [(str(k), str(v)) for k, v in resp.headers], bytes(resp.body or b"")


def serve(
    manifest: Manifest,
    store: Store,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    max_body: int = DEFAULT_MAX_BODY,
    seed: int | None = None,
    interrupt: Interrupt | None = None,
    on_ready: Callable[[str, int], None] | None = None,
    sink: Callable[[str, str], None] | None = None,
) -> ServeResult:
    """Serve the actor of ``manifest`` on ``host:port`` until ``interrupt`` is requested
    (or the actor traps); ``on_ready(host, port)`` is called once the port is bound."""
    warnings: list[str] = []
    handlers = build_handlers(manifest, seed_override=seed, warnings=warnings)
    for w in warnings:
        if sink is not None:
            sink("warning", w)
    rnd = next((h for h in handlers if isinstance(h, RandomHandler)), None)
    rt = next((h for h in handlers if isinstance(h, RuntimeHandler)), None)
    if rt is not None and sink is not None:
        rt.sink = sink
    loaded = load_actor_component(manifest, handlers)
    data, component, plan, exports = loaded.data, loaded.component, loaded.plan, loaded.exports
    proxy = "handle" in getattr(exports.get(INCOMING), "funcs", {})  # wasi:http (componentize-py's proxy world)
    http_state = http_state_of(plan)
    if not proxy and "handle-request" not in getattr(exports.get(HTTP_HANDLERS), "funcs", {}):
        raise ComponentError(f"{manifest.component}: the component exports neither {HTTP_HANDLERS}#handle-request "
                             f"nor {INCOMING}#handle; theater serve runs an actor that answers HTTP requests")
    if proxy and http_state is None:
        from .errors import ManifestError

        raise ManifestError(f"{manifest.path}: the actor exports {INCOMING}#handle, whose requests are wasi:http "
                            'resources: add a [[handler]] with type = "wasi-http" to the manifest')
    has_init = "init" in getattr(exports.get(ACTOR), "funcs", {})
    try:
        check_export_signatures(exports, {"init", "handle-request"})
    except ComponentError as e:
        raise ComponentError(f"{manifest.component}: {e}") from None
    state = manifest.init_state_bytes()
    redactor = redactor_for(handlers)
    if redactor is not None and redactor.headers:  # served requests are redacted too (docs/http.md)
        redactor = dataclasses.replace(redactor, learns=True)
    arrivals: queue.Queue[Arrival] = queue.Queue()
    closed = threading.Event()
    try:
        server = make_server(host, port, arrivals, max_body=max_body, closed=closed)
    except OSError as e:
        from .errors import UsageError

        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    param = manifest.name
    header = header_for(manifest, loaded.sha, handlers, None if rnd is None else rnd.seed,
                        param)

    if interrupt is not None:
        interrupt.check()  # stopped while the component compiled: no chain at all
    store.put_component(data, sha256=loaded.sha)
    writer = store.create_chain(header)
    boundary = Boundary(writer, resources=resource_codec(plan), redactor=redactor)
    thread: threading.Thread | None = None
    served = rejected = 0
    try:
        actor = start_actor(writer, component, plan, boundary, manifest, interrupt)
        outcome, error = EndOutcome.COMPLETED, None
        if has_init:
            status, value = actor.call(*export_args("init", state, param, 0))
            writer.flush()
            ok, new_state, _, err = apply_result("init", value) if status == "ok" else (False, None, None, value)
            if not ok:
                outcome = EndOutcome.TRAPPED if status == "trap" else EndOutcome.ERROR
                head = writer.finish(outcome, **end_detail(err))
                return ServeResult(chain=writer.chain_id, events=writer.length, head=head, outcome=outcome,
                                   requests=0, rejected=0, error=err)
            state = new_state
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": POLL},
                                  name="theater-serve", daemon=True)
        thread.start()
        if on_ready is not None:
            bound = server.server_address
            on_ready(str(bound[0]), int(bound[1]))
        while interrupt is None or not interrupt.requested:
            try:
                arrival = arrivals.get(timeout=POLL)
            except queue.Empty:
                continue
            if arrival.rejected is not None:
                writer.append(REJECTED_TYPE, canonical_json(_redacted(redactor, arrival, arrival.rejected)))
                writer.flush()
                rejected += 1
                arrival.done.set()
                continue
            assert arrival.request is not None
            if redactor is not None and redactor.learns:
                redactor.learn(redactor.incoming([*arrival.request[2], *(arrival.trailers or [])]))
            before = writer.length
            try:
                if proxy:
                    assert http_state is not None
                    status, value = serve_call(actor, state=http_state,
                                               request=_wasi_request(arrival.request, arrival.trailers))
                else:
                    status, value = actor.call(*export_args("http", state, _record(*arrival.request), served + 1))
            except Interrupted:
                arrival.answer(503, [], b"theater: stopping\n")
                if writer.length > before:  # host events of an unfinished call: keep the chain incomplete
                    raise
                break
            writer.flush()
            served += 1
            if status == "trap":
                arrival.answer(500, [("content-type", "text/plain")], b"theater: the actor trapped\n")
                outcome, error = EndOutcome.TRAPPED, value
                break
            if proxy:
                arrival.answer(*_wasi_answer(value))
                continue
            ok, new_state, response, err = apply_result("handle-request", value)
            if not ok:
                arrival.answer(500, [("content-type", "text/plain")], b"theater: the actor returned an error\n")
                continue
            state = new_state
            arrival.answer(*_response(response))
        closed.set()
        server.shutdown()
        thread.join(5)
        thread = None
        # requests that arrived while stopping never reached the actor: recorded, refused
        while True:
            try:
                arrival = arrivals.get_nowait()
            except queue.Empty:
                break
            what = arrival.rejected or {"status": 503, "reason": "the server was stopping",
                                        "request": _head(arrival)}
            writer.append(REJECTED_TYPE, canonical_json(_redacted(redactor, arrival, what)))
            rejected += 1
            if arrival.rejected is None:
                arrival.answer(503, [], b"theater: stopping\n")
            else:
                arrival.done.set()
        if rt is not None:
            rt.flush_partial()
        head = writer.finish(outcome, **end_detail(error))
        return ServeResult(chain=writer.chain_id, events=writer.length, head=head, outcome=outcome,
                           requests=served, rejected=rejected, error=error)
    except Interrupted as e:
        writer.abandon()
        raise e.again(f"{e.what}: chain {writer.chain_id} kept as incomplete, "
                      f"{writer.length} events (it verifies as a prefix)") from None
    finally:
        if thread is not None:
            server.shutdown()
        server.server_close()
        if not writer.finished:
            writer.abandon()
        close_handlers(handlers)


def _wasi_request(request: tuple[str, str, list[tuple[str, str]], bytes | None],
                  trailers: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """A request as ``wasi:http/incoming-handler#handle`` records it (theater/wasihttp.py);
    ``trailers`` (a chunked body's trailer section) only when it had some."""
    method, uri, headers, body = request
    authority = next((v for k, v in headers if k.lower() == "host"), None)
    out = {"method": method, "uri": uri, "headers": [[k, v] for k, v in headers], "scheme": "http",
           "authority": authority, "body": None if body is None else encode_tagged_bytes(body)}
    if trailers:
        out["trailers"] = [[k, v] for k, v in trailers]
    return out


def _wasi_answer(answer: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """What to send for a wasi:http actor's recorded answer (``ok``, ``err`` or ``none``)."""
    text = [("content-type", "text/plain")]
    if isinstance(answer, dict) and isinstance(answer.get("ok"), dict):
        resp = answer["ok"]
        body = decode_tagged_bytes(resp.get("body")) or b""
        return _response(SimpleNamespace(status=resp["status"], headers=resp["headers"], body=body))
    if isinstance(answer, dict) and "err" in answer:
        err = answer["err"]
        case = err.get("case") if isinstance(err, dict) else err
        return 500, text, f"theater: the actor answered error-code {inert(str(case))}\n".encode()
    return 500, text, b"theater: the actor set no response\n"


def _redacted(redactor: Any, arrival: Arrival, what: dict[str, Any]) -> dict[str, Any]:
    """A rejected arrival's record with its redacted header values as tokens."""
    if redactor is None or not redactor.learns:
        return what
    head = what.get("request")
    if isinstance(head, dict) and isinstance(head.get("headers"), list):
        redactor.learn(redactor.incoming((str(k), str(v)) for k, v in head["headers"]))
    elif arrival.request is not None:
        redactor.learn(redactor.incoming(arrival.request[2]))
    out: dict[str, Any] = redactor.scrub(what)
    return out


def _head(arrival: Arrival) -> dict[str, Any]:
    assert arrival.request is not None
    method, uri, headers, _ = arrival.request
    return {"method": method, "uri": uri, "headers": [list(h) for h in headers]}
