"""One line in words per event (issue 17 item 2): what a row of the event list says.

::

    log "send #1 (5 bytes)"
    get-random-bytes(8) -> 8 B
    now -> 2026-01-01 00:00:00.001
    handle-send("hello") -> ok
    output-stream.write("example: got message 1") -> ok
    send-http(GET http://127.0.0.1:8080/x) -> 200, 12 B
    end completed

:func:`summary` takes an event's type and its data as stored (canonical JSON,
docs/chain-format.md) and never fails: data that is not JSON, or not of the shape a
handler records, is summarised generically (``call(args) -> result``), so every
handler's events (runtime, random, clocks, filesystem, HTTP, message-server,
supervisor, wasi:cli, wasi:io, a custom interface) get a line. Bytes
(``"base64:..."``) show as their text when they are short printable UTF-8, else as
their size. Pure: no store, no terminal; the result is made inert (theater/text.py)
and at most :data:`WIDTH` characters.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from .canonical import decode_tagged_bytes
from .chain import END_TYPE, split_type
from .text import inert_line

__all__ = ["WIDTH", "summary", "value_text", "function_label"]

#: the longest summary returned (a row is cut to its pane anyway)
WIDTH = 160
#: a string or bytes shown as text is cut to this many characters
TEXT = 40


def summary(type_: str, data: bytes) -> str:
    """The event in a few words (see the module docstring)."""
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        return f"(not JSON, {len(data)} B)"
    try:
        text = _summary(type_, payload)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError):
        text = _generic(function_label(type_), payload)
    text = inert_line(text)
    return text if len(text) <= WIDTH else text[: WIDTH - 1] + "…"


def function_label(type_: str) -> str:
    """The function of an event type as a reader names it: ``get-random-bytes``,
    ``output-stream.write`` (for ``[method]output-stream.write``), ``descriptor`` (a
    ``[constructor]``), ``pollable.drop``."""
    if type_ == END_TYPE:
        return "end"
    _, _, function = split_type(type_)
    if not function:
        return type_
    for prefix in ("[method]", "[static]"):
        if function.startswith(prefix):
            return function[len(prefix):]
    if function.startswith("[constructor]"):
        return function[len("[constructor]"):] + ".new"
    if function.startswith("[resource-drop]"):
        return function[len("[resource-drop]"):] + ".drop"
    return function


def _summary(type_: str, payload: Any) -> str:
    if type_ == END_TYPE:
        return _end(payload)
    kind, interface, function = split_type(type_)
    name = function_label(type_)
    if not isinstance(payload, dict) or "args" not in payload:
        return _generic(name, payload)
    args, result = payload.get("args"), payload.get("result")
    if kind == "export":
        return _export(name, args, result)
    base = interface.partition("@")[0]
    if base == "theater:simple/runtime" and function == "log" and isinstance(args, dict):
        return f"log {_quote(args.get('msg'))}"
    if function in ("get-random-bytes", "get-insecure-random-bytes") and isinstance(args, dict):
        size = decode_tagged_bytes(result)
        return f"{name}({args.get('len')}) -> " + ("?" if size is None else f"{len(size)} B")
    if base == "wasi:clocks/wall-clock" and function in ("now", "resolution") and isinstance(result, dict):
        return f"{name} -> {_wall(result)}"
    if base == "wasi:clocks/monotonic-clock" and function in ("now", "resolution") and isinstance(result, int):
        return f"{name} -> {_duration(result)}"
    if base == "theater:simple/timing" and function == "now" and isinstance(result, int):
        return f"{name} -> {_millis(result)}"
    if base == "theater:simple/http-client" and function == "send-http":
        return _http(name, args, result)
    return _call(name, args, result)


def _end(payload: Any) -> str:
    if not isinstance(payload, dict):
        return "end"
    outcome = payload.get("outcome")
    words = ["end", str(outcome) if outcome is not None else "?"]
    for key in ("error", "reason", "status", "message"):
        if payload.get(key) is not None:
            words.append(value_text(payload[key]))
    return " ".join(words)


def _export(name: str, args: Any, result: Any) -> str:
    """``handle-send("hello") -> ok``: the params (the state passed in left out) and
    the outcome (the new state left out, what else it returned shown)."""
    if isinstance(args, dict):  # the state passed in is left out
        params = args["params"] if "params" in args else [v for k, v in args.items() if k != "state"]
    else:
        params = args
    inner = ", ".join(value_text(p) for p in params) if isinstance(params, list) else (
        "" if params in (None, {}) else value_text(params))
    return f"{name}({inner}) -> {_export_result(result, isinstance(args, dict) and 'state' in args)}"


def _export_result(result: Any, stateful: bool) -> str:
    if isinstance(result, dict) and len(result) == 1 and "ok" in result:
        ok = result["ok"]
        if stateful and isinstance(ok, list) and ok:
            rest = [v for v in ok[1:] if v is not None]
            return "ok" + ("" if not rest else " " + ", ".join(value_text(v) for v in rest))
        return "ok" if ok is None else f"ok {value_text(ok)}"
    if isinstance(result, dict) and len(result) == 1 and "err" in result:
        return f"err {value_text(result['err'])}"
    return "()" if result is None else value_text(result)


def _call(name: str, args: Any, result: Any) -> str:
    """``name(a, b) -> result`` for any host call; a resource's ``self`` is left out."""
    if isinstance(args, dict):
        inner = ", ".join(value_text(v) for k, v in args.items() if k != "self")
    elif isinstance(args, list):
        inner = ", ".join(value_text(v) for v in args)
    else:
        inner = "" if args is None else value_text(args)
    return f"{name}({inner})" + ("" if result is None else f" -> {value_text(result)}")


def _generic(name: str, payload: Any) -> str:
    if isinstance(payload, dict) and "args" in payload:
        return _call(name, payload.get("args"), payload.get("result"))
    return f"{name} {value_text(payload)}"


def _http(name: str, args: Any, result: Any) -> str:
    req = args.get("req", args) if isinstance(args, dict) else args
    if isinstance(req, dict) and len(req) == 1 and "req" not in req and isinstance(next(iter(req.values())), dict):
        req = next(iter(req.values()))
    what = value_text(args)
    if isinstance(req, dict) and ("uri" in req or "url" in req):
        method = value_text(req.get("method", "?"), quote=False)
        what = f"{method} {value_text(req.get('uri', req.get('url')), quote=False)}"
    return f"{name}({what}) -> {_http_result(result)}"


def _http_result(result: Any) -> str:
    if isinstance(result, dict) and len(result) == 1 and "ok" in result and isinstance(result["ok"], dict):
        resp = result["ok"]
        status = resp.get("status")
        body = resp.get("body")
        if isinstance(body, dict) and "some" in body:
            body = body["some"]
        raw = decode_tagged_bytes(body)
        return f"{status}" + ("" if raw is None else f", {len(raw)} B")
    return _export_result(result, False)


def _wall(dt: dict[str, Any]) -> str:
    seconds, nanos = int(dt["seconds"]), int(dt["nanoseconds"])
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{stamp}.{nanos // 1_000_000:03d}"


def _millis(ms: int) -> str:
    stamp = datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{stamp}.{ms % 1000:03d}"


def _duration(ns: int) -> str:
    if ns < 1_000:
        return f"{ns} ns"
    if ns < 1_000_000:
        return f"{ns / 1_000:.1f} µs"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.1f} ms"
    return f"{ns / 1_000_000_000:.3f} s"


def _quote(s: Any) -> str:
    return value_text(s) if isinstance(s, str) else value_text(s)


def _cut(s: str, n: int = TEXT) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def value_text(value: Any, *, quote: bool = True, depth: int = 0) -> str:
    """A canonical JSON value in a few characters: ``"hello"`` (a string, or bytes that
    are printable UTF-8), ``12 B`` (other bytes), ``ok``/``err "x"`` (a result),
    ``#3`` (a resource handle), ``none`` (an empty option), ``[3 items]``."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        raw = decode_tagged_bytes(value)
        if raw is not None:
            try:
                text = raw.decode()
            except UnicodeDecodeError:
                return f"{len(raw)} B"
            if text and all(c.isprintable() or c in "\n\r\t" for c in text):
                return '"' + _cut(text) + '"' if quote else _cut(text)
            return f"{len(raw)} B"
        if value.startswith("blob:"):
            return "state"  # a stored blob reference (theater/blobs.py)
        return '"' + _cut(value) + '"' if quote else _cut(value)
    if depth > 2:
        return "…"
    if isinstance(value, list):
        if len(value) > 4:
            return f"[{len(value)} items]"
        return "[" + ", ".join(value_text(v, depth=depth + 1) for v in value) + "]"
    if isinstance(value, dict):
        if len(value) == 1:
            (key, inner), = value.items()
            if key in ("ok", "err"):
                return key if inner is None else f"{key} {value_text(inner, depth=depth + 1)}"
            if key == "some":
                return value_text(inner, depth=depth + 1)
            if key == "rep" and isinstance(inner, int):
                return f"#{inner}"
        if set(value) == {"case", "value"}:
            case = str(value["case"])
            return case if value["value"] is None else f"{case}({value_text(value['value'], depth=depth + 1)})"
        items = list(value.items())
        shown = ", ".join(f"{k}: {value_text(v, depth=depth + 1)}" for k, v in items[:4])
        return "{" + shown + (", …" if len(items) > 4 else "") + "}"
    return _cut(str(value))
