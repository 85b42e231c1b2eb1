"""wasi:http 0.2 for actors: the ``wasi:http/types`` resources as host state, one
recorded event per request (issue 15).

A wasi:http request or response is built and read through many resource calls
(``fields.append``, ``outgoing-response.set-status-code``, a body's output-stream
``write``, ...). Those calls are not crossings of anything the host cannot
reproduce: they are operations on the host's own tables, a pure function of what the
actor passes and of the request or response the tables were filled with. So they are
run in record and in replay alike and never recorded one by one (:class:`HttpState`,
bound by :class:`theater.runtime.ActorInstance` through ``Plan.local``). What is
recorded is the one fact the host cannot reproduce, once per request:

- **incoming** (``theater serve`` of a ``wasi:http/incoming-handler`` export,
  componentize-py's ``proxy`` world): the export event
  ``export:wasi:http/incoming-handler@V#handle`` holds ``{"args": {"request": R},
  "result": A}``, R the whole request (method, scheme, authority, uri, headers, body)
  and A the whole answer the actor built (``{"ok": {status, headers, body}}``, or
  ``{"err": error-code}`` when it set an error, or ``{"none": reason}`` when it set
  nothing). Replay builds the request from R, calls the export, and compares A byte
  for byte, opening no port.
- **outgoing** (``wasi:http/outgoing-handler#handle``, componentize-py's
  ``poll_loop.send``, componentize-js's ``fetch``): the request is sent as soon as it
  is complete, at ``handle`` (as wasmtime-wasi does) or, when its body is still being
  written then, at ``outgoing-body.finish``, through the http-client handler (the
  same httpx client, allowed hosts, limits and redaction as ``send-http``), and
  recorded as one host event ``host:wasi:http/outgoing-handler@V#handle`` holding the
  whole request and the whole response (or the error-code). Replay checks the request
  and answers with the recorded response; no handler is built, no socket opened.

The body streams are wasi:io/streams ``input-stream`` and ``output-stream``: the same
host resource types as the runtime handler's streams (one type each in the linker),
with reps from :data:`FIRST_REP` up, so the stream functions route a call on one of
these reps here and any other (stdout, a file) to the runtime handler's recorded
crossing. A pollable of these streams or futures is always ready: a response is
complete when the actor gets it.

Limits: a request body is sent whole once finished (written in any number of chunks,
but no full-duplex streaming: the response cannot start before the body ends); request
trailers are refused (the request is not sent; its response is a recorded
``internal-error``), a served response's trailers are refused by ``finish`` and noted in
the answer, a response's trailers are never received (``none``: httpx drops them); a
served request's trailers are recorded with it and handed over; header values are
recorded as latin-1 text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wasmtime.component import ResourceAny, ResourceHost

from .canonical import decode_tagged_bytes, encode_tagged_bytes
from .codec import decode_result, encode_params
from .errors import HostRefusal

TYPES = "wasi:http/types"
INCOMING = "wasi:http/incoming-handler"
OUTGOING = "wasi:http/outgoing-handler"
STREAMS = "wasi:io/streams"

#: host type ids of the wasi:http/types resources (``headers`` and ``trailers`` are
#: ``fields``: one resource, theater/runtime.py::resource_type_ids)
RESOURCE_TYPES: dict[str, int] = {
    name: 0x7F0 + i for i, name in enumerate((
        "fields", "incoming-request", "outgoing-request", "request-options", "response-outparam",
        "incoming-response", "incoming-body", "future-trailers", "outgoing-response", "outgoing-body",
        "future-incoming-response"))
}
#: the first rep of the resources here: above every rep the runtime handler gives a
#: stream (0, 1, 2, 16 and up), so a stream call is routed by its rep alone
FIRST_REP = 1 << 24
#: ``future-incoming-response.get`` answers "not ready" (none) while the request's body is
#: still being written, at most this many times; then the error-code below
MAX_WAITS = 10_000
UNFINISHED = "theater: the request body was never finished (outgoing-body.finish), so it was never sent"
REQUEST_TRAILERS = "theater does not send request trailers: the request was not sent"
RESPONSE_TRAILERS = "theater serve does not send response trailers: they were dropped"
_READY = {"rep": 1}  # theater/handlers/poll.py ALWAYS_READY
_OK: dict[str, Any] = {"ok": None}
_CLOSED = {"err": {"case": "closed", "value": None}}
_METHODS = ("get", "head", "post", "put", "delete", "connect", "options", "trace", "patch")
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

Json = Any


def _herr(case: str) -> Json:
    return {"err": {"case": case, "value": None}}


def _bytes(v: Json) -> bytes:
    raw = decode_tagged_bytes(v)
    return b"" if raw is None else raw


def method_name(v: Json) -> str:
    """A ``method`` variant as the HTTP method text."""
    case = v.get("case") if isinstance(v, dict) else None
    if case == "other":
        return str(v.get("value"))
    return str(case).upper()


def method_variant(name: str) -> Json:
    low = name.lower()
    if low in _METHODS and name.upper() == name:
        return {"case": low, "value": None}
    return {"case": "other", "value": name}


def _scheme_name(v: Json) -> str | None:
    if v is None:
        return None
    case = v["some"].get("case")
    return str(v["some"].get("value")) if case == "other" else str(case).lower()


def _opt(v: Json) -> Any:
    return None if v is None else v["some"]


class Fields:
    """A fields resource: header entries in order; immutable once owned by a message."""

    __slots__ = ("entries", "immutable")

    def __init__(self, entries: list[tuple[str, bytes]], immutable: bool = False) -> None:
        self.entries = entries
        self.immutable = immutable


class HttpState:
    """The wasi:http resources of one actor instance, and their functions.

    ``outgoing(request) -> response`` (record mode: the http-client handler's
    ``send_wasi``) sends one outgoing request, both as plain dicts; in replay it is
    never called (the boundary answers from the recording)."""

    def __init__(self, outgoing: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        self.outgoing = outgoing
        self.boundary: Any = None
        self.outgoing_interface = OUTGOING
        self.plan: Any = None
        self._next = FIRST_REP
        self.fields: dict[int, Fields] = {}
        self.messages: dict[int, dict[str, Any]] = {}  # requests, responses, options, outparams
        self.bodies: dict[int, dict[str, Any]] = {}  # incoming and outgoing bodies
        self.inputs: dict[int, list[Any]] = {}  # input-stream rep -> [bytes, position]
        self.outputs: dict[int, bytearray] = {}
        self.futures: dict[int, dict[str, Any]] = {}

    def _rep(self) -> int:
        rep, self._next = self._next, self._next + 1
        return rep

    def _new_fields(self, entries: list[tuple[str, bytes]], immutable: bool = False) -> Json:
        rep = self._rep()
        self.fields[rep] = Fields(entries, immutable)
        return {"rep": rep}

    def reset(self) -> None:
        """Forget the resources of finished requests (between served requests)."""
        self.fields.clear()
        self.messages.clear()
        self.bodies.clear()
        self.inputs.clear()
        self.outputs.clear()
        self.futures.clear()

    # -- fields -------------------------------------------------------------------

    def _f(self, a: Json) -> Fields:
        f = self.fields.get(a["rep"])
        if f is None:
            raise HostRefusal("wasi:http/types: a fields handle theater did not make")
        return f

    @staticmethod
    def _valid(name: str, value: bytes | None = None) -> bool:
        if not name or not set(name) <= _TOKEN:
            return False
        return value is None or not any(c in value for c in b"\r\n\0")

    def fields_new(self, a: Json) -> Json:
        return self._new_fields([])

    def fields_from_list(self, a: Json) -> Json:
        entries = [(str(k), _bytes(v)) for k, v in a["entries"]]
        if not all(self._valid(k, v) for k, v in entries):
            return _herr("invalid-syntax")
        return {"ok": self._new_fields(entries)}

    def fields_get(self, a: Json) -> Json:
        name = str(a["name"]).lower()
        return [encode_tagged_bytes(v) for k, v in self._f(a["self"]).entries if k.lower() == name]

    def fields_has(self, a: Json) -> Json:
        name = str(a["name"]).lower()
        return any(k.lower() == name for k, _ in self._f(a["self"]).entries)

    def fields_set(self, a: Json) -> Json:
        f = self._f(a["self"])
        name = str(a["name"])
        values = [_bytes(v) for v in a["value"]]
        if f.immutable:
            return _herr("immutable")
        if not all(self._valid(name, v) for v in values):
            return _herr("invalid-syntax")
        f.entries = [(k, v) for k, v in f.entries if k.lower() != name.lower()] + [(name, v) for v in values]
        return _OK

    def fields_delete(self, a: Json) -> Json:
        f = self._f(a["self"])
        if f.immutable:
            return _herr("immutable")
        name = str(a["name"]).lower()
        f.entries = [(k, v) for k, v in f.entries if k.lower() != name]
        return _OK

    def fields_append(self, a: Json) -> Json:
        f = self._f(a["self"])
        name, value = str(a["name"]), _bytes(a["value"])
        if f.immutable:
            return _herr("immutable")
        if not self._valid(name, value):
            return _herr("invalid-syntax")
        f.entries.append((name, value))
        return _OK

    def fields_entries(self, a: Json) -> Json:
        return [[k, encode_tagged_bytes(v)] for k, v in self._f(a["self"]).entries]

    def fields_clone(self, a: Json) -> Json:
        return self._new_fields(list(self._f(a["self"]).entries))

    # -- messages -------------------------------------------------------------------

    def _m(self, a: Json) -> dict[str, Any]:
        m = self.messages.get(a["rep"])
        if m is None:
            raise HostRefusal("wasi:http/types: a request or response handle theater did not make")
        return m

    def _child_headers(self, m: dict[str, Any]) -> Json:
        """A message's headers: a new handle on its entries, immutable (wasi:http)."""
        return self._new_fields(list(self.fields[m["headers"]].entries) if m["headers"] in self.fields
                                else [], immutable=True)

    def _take_fields(self, a: Json) -> int:
        rep = a["rep"]
        self._f(a).immutable = True
        return int(rep)

    def _body(self, m: dict[str, Any], kind: str) -> Json:
        if m.get("body") is not None:
            return {"err": None}
        rep = self._rep()
        m["body"] = rep
        if kind == "in":
            self.bodies[rep] = {"data": m.get("data", b""), "stream": None, "trailers": m.get("trailers")}
        else:
            self.bodies[rep] = {"out": bytearray(), "stream": None, "finished": False, "trailers": None,
                                "request": "method" in m, "future": None}
        return {"ok": {"rep": rep}}

    # incoming-request (made by theater serve from a real request, or replay's record)

    def incoming_request(self, request: dict[str, Any]) -> int:
        rep = self._rep()
        headers = [(str(k), str(v).encode("latin-1")) for k, v in request["headers"]]
        body = _bytes(request["body"]) if request.get("body") else b""
        hrep = self._new_fields(headers, immutable=True)["rep"]
        trailers = request.get("trailers")
        self.messages[rep] = {"method": request["method"], "uri": request["uri"], "scheme": request.get("scheme"),
                              "authority": request.get("authority"), "headers": hrep, "data": body, "body": None,
                              "trailers": None if trailers is None else
                              [(str(k), str(v).encode("latin-1")) for k, v in trailers]}
        return rep

    def ireq_method(self, a: Json) -> Json:
        return method_variant(str(self._m(a["self"])["method"]))

    def ireq_path(self, a: Json) -> Json:
        return {"some": str(self._m(a["self"])["uri"])}

    def ireq_scheme(self, a: Json) -> Json:
        s = self._m(a["self"]).get("scheme")
        if s is None:
            return None
        return {"some": {"case": s.upper(), "value": None} if s in ("http", "https") else
                {"case": "other", "value": s}}

    def ireq_authority(self, a: Json) -> Json:
        s = self._m(a["self"]).get("authority")
        return None if s is None else {"some": s}

    def msg_headers(self, a: Json) -> Json:
        return self._child_headers(self._m(a["self"]))

    def msg_consume(self, a: Json) -> Json:
        return self._body(self._m(a["self"]), "in")

    # response-outparam

    def outparam(self) -> int:
        rep = self._rep()
        self.messages[rep] = {"outparam": True, "set": None}
        return rep

    def outparam_set(self, a: Json) -> Json:
        m = self._m(a["param"])
        if m.get("set") is not None:
            raise HostRefusal("wasi:http/types#[static]response-outparam.set called twice")
        m["set"] = a["response"]
        return None

    # outgoing-response

    def oresp_new(self, a: Json) -> Json:
        rep = self._rep()
        self.messages[rep] = {"status": 200, "headers": self._take_fields(a["headers"]), "body": None}
        return {"rep": rep}

    def oresp_status(self, a: Json) -> Json:
        return int(self._m(a["self"])["status"])

    def oresp_set_status(self, a: Json) -> Json:
        code = int(a["status-code"])
        if not 100 <= code <= 599:
            return {"err": None}
        self._m(a["self"])["status"] = code
        return _OK

    def msg_body_out(self, a: Json) -> Json:
        return self._body(self._m(a["self"]), "out")

    # outgoing-request

    def oreq_new(self, a: Json) -> Json:
        rep = self._rep()
        self.messages[rep] = {"method": "GET", "scheme": None, "authority": None, "uri": None,
                              "headers": self._take_fields(a["headers"]), "body": None}
        return {"rep": rep}

    def oreq_get(self, key: str) -> Callable[[Json], Json]:
        def get(a: Json) -> Json:
            v = self._m(a["self"])[key]
            if key == "method":
                return method_variant(str(v))
            if key == "scheme":
                return None if v is None else {"some": {"case": v.upper(), "value": None}
                                               if v in ("http", "https") else {"case": "other", "value": v}}
            return None if v is None else {"some": v}
        return get

    def oreq_set(self, key: str, param: str) -> Callable[[Json], Json]:
        def set_(a: Json) -> Json:
            v = a[param]
            if key == "method":
                value: Any = method_name(v)
                if not value or not set(value) <= _TOKEN:
                    return {"err": None}
            elif key == "scheme":
                value = _scheme_name(v)
            else:
                value = _opt(v)
            self._m(a["self"])[key] = value
            return _OK
        return set_

    # request-options: kept, and recorded with the request; the handler's timeout rules

    def options_new(self, a: Json) -> Json:
        rep = self._rep()
        self.messages[rep] = {"options": True}
        return {"rep": rep}

    def option_get(self, key: str) -> Callable[[Json], Json]:
        return lambda a: self._m(a["self"]).get(key)

    def option_set(self, key: str) -> Callable[[Json], Json]:
        def set_(a: Json) -> Json:
            self._m(a["self"])[key] = a["duration"]
            return _OK
        return set_

    # bodies and their streams

    def _b(self, a: Json) -> dict[str, Any]:
        b = self.bodies.get(a["rep"])
        if b is None:
            raise HostRefusal("wasi:http/types: a body handle theater did not make")
        return b

    def ibody_stream(self, a: Json) -> Json:
        b = self._b(a["self"])
        if b["stream"] is not None:
            return {"err": None}
        rep = self._rep()
        b["stream"] = rep
        self.inputs[rep] = [b["data"], 0]
        return {"ok": {"rep": rep}}

    def ibody_finish(self, a: Json) -> Json:
        b = self._b(a["this"])
        rep = self._rep()
        self.futures[rep] = {"trailers": b.get("trailers"), "taken": False}
        return {"rep": rep}

    def trailers_get(self, a: Json) -> Json:
        """A served request's trailers (a chunked body's trailer section, recorded with
        the request); a response's are always none (httpx does not hand them over)."""
        fut = self.futures.get(a["self"]["rep"])
        if fut is None:
            raise HostRefusal("wasi:http/types: a future-trailers handle theater did not make")
        if fut.get("taken"):
            return {"some": {"err": None}}
        fut["taken"] = True
        entries = fut.get("trailers")
        if not entries:
            return {"some": {"ok": {"ok": None}}}
        return {"some": {"ok": {"ok": {"some": self._new_fields(list(entries), immutable=True)}}}}

    def obody_write(self, a: Json) -> Json:
        b = self._b(a["self"])
        if b["stream"] is not None:
            return {"err": None}
        rep = self._rep()
        b["stream"] = rep
        self.outputs[rep] = b["out"]
        return {"ok": {"rep": rep}}

    def obody_finish(self, a: Json) -> Json:
        """The body is complete. A request whose body this is goes out now if ``handle``
        has been called (else at ``handle``). Trailers are kept: a request's are recorded
        with it and refused (its response is that error-code); a served response's are
        refused here, and recorded in the answer (``trailers_refused``)."""
        b = self._b(a["this"])
        if b["finished"]:
            raise HostRefusal("wasi:http/types#[static]outgoing-body.finish called twice")
        b["finished"] = True
        if a.get("trailers") is not None:
            b["trailers"] = list(self._f(a["trailers"]["some"]).entries)
        if b["request"] and b["future"] is not None:
            fut = self.futures[b["future"]]
            fut["result"] = self._send(fut)
        if b["trailers"] and not b["request"]:
            return {"err": {"case": "internal-error", "value": {"some": RESPONSE_TRAILERS}}}
        return _OK

    # wasi:io/streams on the body streams (routed here by rep)

    def owns_stream(self, rep: int) -> bool:
        return rep in self.inputs or rep in self.outputs

    def s_read(self, a: Json) -> Json:
        entry = self.inputs.get(a["self"]["rep"])
        if entry is None:
            return _CLOSED
        data, pos = entry
        n = min(int(a["len"]), 1 << 20)
        if pos >= len(data) and n:
            return _CLOSED
        entry[1] = pos + n
        return {"ok": encode_tagged_bytes(data[pos:pos + n])}

    def s_skip(self, a: Json) -> Json:
        got = self.s_read(a)
        return {"ok": len(_bytes(got["ok"]))} if "ok" in got else got

    def s_check_write(self, a: Json) -> Json:
        return {"ok": 1 << 20}

    def s_write(self, a: Json) -> Json:
        out = self.outputs.get(a["self"]["rep"])
        if out is None:
            return _CLOSED
        out += _bytes(a["contents"])
        return _OK

    def s_flush(self, a: Json) -> Json:
        return _OK

    def s_zeroes(self, a: Json) -> Json:
        out = self.outputs.get(a["self"]["rep"])
        if out is None:
            return _CLOSED
        out += bytes(int(a["len"]))
        return _OK

    # -- outgoing-handler -----------------------------------------------------------------

    def handle(self, a: Json) -> Json:
        """``outgoing-handler.handle``: the request is sent as soon as it is complete, as
        wasmtime-wasi sends it at ``handle``: here if it has no body or its body is
        finished, else when ``outgoing-body.finish`` is called. So a request whose
        response is never asked for is sent (and recorded) all the same."""
        m = self._m(a["request"])
        rep = self._rep()
        opts = None if a.get("options") is None else self.messages.get(a["options"]["some"]["rep"])
        fut = self.futures[rep] = {"request": m, "options": opts, "result": None, "waits": 0}
        body = None if m.get("body") is None else self.bodies[m["body"]]
        if body is None or body["finished"]:
            fut["result"] = self._send(fut)
        else:
            body["future"] = rep
        return {"ok": {"rep": rep}}

    def future_get(self, a: Json) -> Json:
        fut = self.futures.get(a["self"]["rep"])
        if fut is None:
            raise HostRefusal("wasi:http/types: a future handle theater did not make")
        if fut.get("taken"):
            return {"some": {"err": None}}
        if fut["result"] is None:  # its body is still being written: not ready yet
            fut["waits"] += 1
            if fut["waits"] <= MAX_WAITS:
                return None
            fut["result"] = {"err": {"case": "internal-error", "value": {"some": UNFINISHED}}}
        fut["taken"] = True
        res = fut["result"]
        if "err" in res:
            return {"some": {"ok": {"err": res["err"]}}}
        resp = res["ok"]
        rep = self._rep()
        headers = [(str(k), str(v).encode("latin-1")) for k, v in resp["headers"]]
        body = resp.get("body")
        self.messages[rep] = {"status": resp["status"], "headers": self._new_fields(headers, True)["rep"],
                              "data": _bytes(body["some"]) if body else b"", "body": None}
        return {"some": {"ok": {"ok": {"rep": rep}}}}

    def request_json(self, m: dict[str, Any]) -> dict[str, Any]:
        """An outgoing request as ``send-http``'s ``http-request`` record is recorded."""
        scheme = m.get("scheme") or "https"
        uri = f"{scheme}://{m.get('authority') or ''}{m.get('uri') or '/'}"
        entries = self.fields[m["headers"]].entries if m["headers"] in self.fields else []
        body_rep = m.get("body")
        body = None if body_rep is None else encode_tagged_bytes(bytes(self.bodies[body_rep]["out"]))
        return {"method": m["method"], "uri": uri, "headers": [[k, v.decode("latin-1")] for k, v in entries],
                "body": None if body is None else {"some": body}}

    def _send(self, fut: dict[str, Any]) -> dict[str, Any]:
        """The one recorded crossing of an outgoing request (theater/boundary.py::local_crossing)."""
        args: dict[str, Any] = {"req": self.request_json(fut["request"])}
        opts = fut.get("options")
        if opts:
            args["options"] = {k: v for k, v in opts.items() if k != "options"}
        body = None if fut["request"].get("body") is None else self.bodies[fut["request"]["body"]]
        trailers = None if body is None else body.get("trailers")
        if trailers:
            args["trailers"] = [[k, v.decode("latin-1")] for k, v in trailers]

        def live() -> Json:
            if trailers:  # never sent: httpx has no way to send a trailer section
                return {"err": {"case": "internal-error", "value": {"some": REQUEST_TRAILERS}},
                        "message": REQUEST_TRAILERS}
            if self.outgoing is None:
                return {"err": {"case": "HTTP-request-denied", "value": None}}
            return self.outgoing(args)

        out: dict[str, Any] = self.boundary.local_crossing(self.outgoing_interface, "handle", args, live)
        return out

    # -- incoming: the response the actor set -------------------------------------------

    def response_json(self, outparam: int) -> Json:
        """What the actor answered through ``outparam``, as recorded in the export event."""
        got = self.messages[outparam].get("set")
        if got is None:
            return {"none": "the actor did not call response-outparam.set"}
        if "err" in got:
            return {"err": got["err"]}
        m = self.messages.get(got["ok"].get("rep")) if isinstance(got.get("ok"), dict) else None
        if m is None:
            return {"none": "the actor set a response theater did not make"}
        entries = self.fields[m["headers"]].entries if m["headers"] in self.fields else []
        body_rep = m.get("body")
        body = b"" if body_rep is None else bytes(self.bodies[body_rep]["out"])
        out = {"status": m["status"], "headers": [[k, v.decode("latin-1")] for k, v in entries],
               "body": encode_tagged_bytes(body)}
        trailers = None if body_rep is None else self.bodies[body_rep].get("trailers")
        if trailers:  # what the actor tried to send, refused (outgoing-body.finish answered an error)
            out["trailers_refused"] = [[k, v.decode("latin-1")] for k, v in trailers]
        return {"ok": out}

    # -- binding -------------------------------------------------------------------------

    def functions(self) -> dict[tuple[str, str], Callable[[Json], Json]]:
        """The local functions, by (versionless interface, function), on canonical JSON."""
        t = TYPES
        fns: dict[tuple[str, str], Callable[[Json], Json]] = {
            (t, "[constructor]fields"): self.fields_new,
            (t, "[static]fields.from-list"): self.fields_from_list,
            (t, "[method]fields.get"): self.fields_get,
            (t, "[method]fields.has"): self.fields_has,
            (t, "[method]fields.set"): self.fields_set,
            (t, "[method]fields.delete"): self.fields_delete,
            (t, "[method]fields.append"): self.fields_append,
            (t, "[method]fields.entries"): self.fields_entries,
            (t, "[method]fields.clone"): self.fields_clone,
            (t, "[method]incoming-request.method"): self.ireq_method,
            (t, "[method]incoming-request.path-with-query"): self.ireq_path,
            (t, "[method]incoming-request.scheme"): self.ireq_scheme,
            (t, "[method]incoming-request.authority"): self.ireq_authority,
            (t, "[method]incoming-request.headers"): self.msg_headers,
            (t, "[method]incoming-request.consume"): self.msg_consume,
            (t, "[constructor]outgoing-request"): self.oreq_new,
            (t, "[method]outgoing-request.body"): self.msg_body_out,
            (t, "[method]outgoing-request.headers"): self.msg_headers,
            (t, "[constructor]request-options"): self.options_new,
            (t, "[static]response-outparam.set"): self.outparam_set,
            (t, "[method]incoming-response.status"): lambda a: int(self._m(a["self"])["status"]),
            (t, "[method]incoming-response.headers"): self.msg_headers,
            (t, "[method]incoming-response.consume"): self.msg_consume,
            (t, "[method]incoming-body.stream"): self.ibody_stream,
            (t, "[static]incoming-body.finish"): self.ibody_finish,
            (t, "[method]future-trailers.subscribe"): lambda a: _READY,
            (t, "[method]future-trailers.get"): self.trailers_get,
            (t, "[constructor]outgoing-response"): self.oresp_new,
            (t, "[method]outgoing-response.status-code"): self.oresp_status,
            (t, "[method]outgoing-response.set-status-code"): self.oresp_set_status,
            (t, "[method]outgoing-response.headers"): self.msg_headers,
            (t, "[method]outgoing-response.body"): self.msg_body_out,
            (t, "[method]outgoing-body.write"): self.obody_write,
            (t, "[static]outgoing-body.finish"): self.obody_finish,
            (t, "[method]future-incoming-response.subscribe"): lambda a: _READY,
            (t, "[method]future-incoming-response.get"): self.future_get,
            (t, "http-error-code"): lambda a: None,
            (OUTGOING, "handle"): self.handle,
        }
        for key in ("method", "path-with-query", "scheme", "authority"):
            fns[(t, f"[method]outgoing-request.{key}")] = self.oreq_get(key.replace("path-with-query", "uri"))
            param = key
            fns[(t, f"[method]outgoing-request.set-{key}")] = self.oreq_set(key.replace("path-with-query", "uri"),
                                                                            param)
        for key in ("connect-timeout", "first-byte-timeout", "between-bytes-timeout"):
            fns[(t, f"[method]request-options.{key}")] = self.option_get(key)
            fns[(t, f"[method]request-options.set-{key}")] = self.option_set(key)
        return fns

    def stream_functions(self) -> dict[str, Callable[[Json], Json]]:
        """wasi:io/streams functions on the body streams (routed by rep)."""
        return {
            "[method]input-stream.read": self.s_read,
            "[method]input-stream.blocking-read": self.s_read,
            "[method]input-stream.skip": self.s_skip,
            "[method]input-stream.blocking-skip": self.s_skip,
            "[method]input-stream.subscribe": lambda a: _READY,
            "[method]output-stream.check-write": self.s_check_write,
            "[method]output-stream.write": self.s_write,
            "[method]output-stream.blocking-write-and-flush": self.s_write,
            "[method]output-stream.flush": self.s_flush,
            "[method]output-stream.blocking-flush": self.s_flush,
            "[method]output-stream.subscribe": lambda a: _READY,
            "[method]output-stream.write-zeroes": self.s_zeroes,
            "[method]output-stream.blocking-write-zeroes-and-flush": self.s_zeroes,
        }

    def bind(self, boundary: Any, plan: Any) -> dict[tuple[str, str], Callable[..., Any]]:
        """Overrides for :class:`theater.runtime.ActorInstance`: (versionless interface,
        function) -> ``wrap(recorded_fn, sig) -> fn``. The wasi:http functions replace
        their binding; a stream function runs here on a body stream's rep and is the
        recorded crossing on any other."""
        from .boundary import _handle_params, _take_handles
        from .runtime import resource_codec

        self.boundary, self.plan = boundary, plan
        # the crossing is recorded at the version the component imports
        self.outgoing_interface = next(
            (b.interface for b in plan.bindings if b.interface.partition("@")[0] == OUTGOING), OUTGOING)
        dec = resource_codec(plan)[1]

        def enc(store: Any, v: Any, ty: Any) -> Json:
            """Every handle here is a host resource, also one inside a result (the
            ``own<outgoing-response>`` given to ``response-outparam.set``)."""
            if isinstance(v, ResourceAny):
                v = v.to_host(store)
            return {"rep": int(v.rep)}

        def local(impl: Callable[[Json], Json], routed: bool) -> Callable[..., Callable[..., Any]]:
            def wrap(recorded: Callable[..., Any], sig: Any) -> Callable[..., Any]:
                handles = _handle_params(sig)

                def call(store: Any, *args: Any) -> Any:
                    if handles:
                        args = _take_handles(store, args, handles)
                    if routed and not (isinstance(args[0], ResourceHost) and self.owns_stream(args[0].rep)):
                        return recorded(store, *args)
                    a = encode_params(sig, args, resource_encoder=lambda v, ty: enc(store, v, ty))
                    return decode_result(sig, impl(a), resource_decoder=lambda o, ty: dec(store, o, ty))

                return call
            return wrap

        out = {key: local(fn, False) for key, fn in self.functions().items()}
        out.update({(STREAMS, name): local(fn, True) for name, fn in self.stream_functions().items()})
        return out


def serve_call(actor: Any, *, state: HttpState, request: dict[str, Any]) -> tuple[str, Any]:
    """Call the actor's ``wasi:http/incoming-handler#handle`` with ``request`` (``method``,
    ``uri``, ``headers`` as text pairs, ``body`` as tagged bytes or None, ``scheme``,
    ``authority``) through the boundary: ``("ok", answer)`` (:meth:`HttpState.response_json`)
    or ``("trap", message)``. The one export event holds the request and the answer."""
    found = actor.export(INCOMING, "handle")
    if found is None:
        from .errors import ComponentError

        raise ComponentError(f"the component does not export {INCOMING}#handle")
    name, func, sig = found
    state.reset()
    req = state.incoming_request(request)
    out = state.outparam()
    args = (ResourceHost.own(req, RESOURCE_TYPES["incoming-request"]),
            ResourceHost.own(out, RESOURCE_TYPES["response-outparam"]))
    answer: list[Any] = []

    def result_of() -> Json:
        answer.append(state.response_json(out))
        return answer[0]

    status, value = actor.boundary.call_export(
        actor.store, func, name, "handle", sig, args, fuel=actor.fuel,
        recorded_args={"request": request}, result_of=result_of)
    return (status, answer[0] if status == "ok" and answer else value)


def http_state_of(plan: Any) -> HttpState | None:
    return next((s for s in getattr(plan, "local", []) if isinstance(s, HttpState)), None)


def attach_for_replay(plan: Any, *, handler_types: list[str]) -> None:
    """Replay: the wasi:http tables (no network) when the recording granted them."""
    if "wasi-http" in handler_types and http_state_of(plan) is None:
        plan.local.append(HttpState())
