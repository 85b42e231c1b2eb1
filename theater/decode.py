"""The one decoder of byte values (issue 17 item 1): JSON, text or hex.

A chain holds bytes in many places: an actor's state, message bodies, random bytes,
an HTTP body, and, in a tampered or foreign row, the event data itself. Every view of
them (``theater show``, ``theater state``, the TUI's event detail) decodes them here, so
they read the same everywhere:

- :func:`decode_bytes` says what the bytes are (:class:`Encoding`): JSON when they parse,
  text when they are printable UTF-8, binary otherwise;
- :func:`render` shows them in a :class:`View`: ``auto`` (the view of their encoding),
  ``text``, ``json`` or ``hex`` (a hex dump as wide as the space given); a JSON view of
  bytes that are not JSON says ``(not JSON)`` and shows them as text or hex;
- :func:`byte_values` finds the byte values inside a decoded payload: every
  ``"base64:..."`` string (a recorded ``list<u8>``), and, in a legacy chain (the Rust
  runtime's, which writes ``Vec<u8>`` as a JSON array of numbers), every array of byte
  values.

What is returned is text made inert (theater/text.py): bytes from an actor never reach
a terminal as control sequences.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import orjson

from .canonical import decode_tagged_bytes
from .text import inert

if TYPE_CHECKING:
    from .chain import Event

__all__ = [
    "Decoded",
    "Encoding",
    "Rendered",
    "View",
    "byte_values",
    "decode_bytes",
    "decoded",
    "event_to_json",
    "hex_width",
    "hexdump",
    "is_json",
    "is_printable",
    "parse_json",
    "pretty_json",
    "render",
]

HEX_LIMIT = 4096  # bytes of a value shown as hex; a count of the rest follows


class Encoding(StrEnum):
    """How bytes read: JSON, printable UTF-8 text, other bytes, or no value at all."""

    JSON = "json"
    TEXT = "text"
    BINARY = "binary"
    NONE = "none"


class View(StrEnum):
    """How bytes are shown: ``auto`` picks the view of their :class:`Encoding`."""

    AUTO = "auto"
    TEXT = "text"
    JSON = "json"
    HEX = "hex"

    def next(self) -> View:
        """The view after this one: auto, text, json, hex, then auto again (the TUI's ``t``)."""
        order = list(View)
        return order[(order.index(self) + 1) % len(order)]


_ALLOWED = str.maketrans("", "", "\n\t\r")


def is_printable(text: str) -> bool:
    """True when ``text`` has no control characters other than newline, tab and CR."""
    return text.translate(_ALLOWED).isprintable()


_NOT_JSON = object()


def parse_json(data: bytes) -> Any:
    """The JSON value of ``data``, or the module's private marker when it is not JSON
    (test with :func:`is_json`)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return _NOT_JSON


def is_json(value: Any) -> bool:
    """False for the marker :func:`parse_json` returns for bytes that are not JSON."""
    return value is not _NOT_JSON


def decode_bytes(data: bytes | None) -> tuple[Encoding, Any]:
    """``(encoding, value)``: the parsed JSON value when the bytes are JSON, the text when
    they are printable UTF-8, else the bytes in hex; ``(NONE, None)`` for no value."""
    if data is None:
        return Encoding.NONE, None
    value = parse_json(data)
    if is_json(value):
        return Encoding.JSON, value
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Encoding.BINARY, data.hex()
    if is_printable(text):
        return Encoding.TEXT, text
    return Encoding.BINARY, data.hex()


@dataclass(frozen=True, kw_only=True)
class Decoded:
    """One byte value found in a payload: where (``path``, e.g. ``args.state.some``) and
    its bytes; :meth:`to_json` gives its size, encoding and decoded value."""

    path: str
    data: bytes

    def to_json(self) -> dict[str, Any]:
        enc, value = decode_bytes(self.data)
        return {"path": self.path, "size": len(self.data), "encoding": enc, "value": value}


def decoded(value: Any, *, legacy: bool = False) -> list[Decoded]:
    """The byte values of a decoded payload (see :func:`byte_values`), as :class:`Decoded`."""
    return [Decoded(path=p, data=b) for p, b in byte_values(value, legacy=legacy)]


def _byte_array(value: list[Any]) -> bytes | None:
    if value and all(type(x) is int and 0 <= x <= 255 for x in value):
        return bytes(value)
    return None


def byte_values(value: Any, path: str = "", *, legacy: bool = False) -> Iterator[tuple[str, bytes]]:
    """Every byte value in a decoded payload, as ``(path, bytes)``, in key order.

    A byte value is a ``"base64:..."`` string; with ``legacy`` (a chain of the Rust
    runtime) also a non-empty array of integers 0..255, which is how it writes a
    ``Vec<u8>`` (in a v1 chain such an array is a list of numbers, not bytes)."""
    if isinstance(value, str):
        raw = decode_tagged_bytes(value)
        if raw is not None:
            yield (path or "value", raw)
    elif isinstance(value, dict):
        for k in sorted(value):
            yield from byte_values(value[k], f"{path}.{k}" if path else str(k), legacy=legacy)
    elif isinstance(value, list):
        raw = _byte_array(value) if legacy else None
        if raw is not None:
            yield (path or "value", raw)
            return
        for i, v in enumerate(value):
            yield from byte_values(v, f"{path}[{i}]", legacy=legacy)


def _scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list))


def pretty_json(value: Any, *, indent: int = 2, _level: int = 0) -> str:
    """``value`` as indented JSON, with an array of scalars on one line (a list of numbers
    is not one number per line); the caller makes it inert."""
    if isinstance(value, dict) and value:
        pad = " " * (indent * (_level + 1))
        items = [f"{pad}{orjson.dumps(str(k)).decode()}: {pretty_json(v, indent=indent, _level=_level + 1)}"
                 for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * (indent * _level) + "}"
    if isinstance(value, list) and value:
        if all(map(_scalar, value)):
            return "[" + ", ".join(orjson.dumps(v).decode() for v in value) + "]"
        pad = " " * (indent * (_level + 1))
        items = [pad + pretty_json(v, indent=indent, _level=_level + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * (indent * _level) + "]"
    return orjson.dumps(value).decode()


def hex_width(cells: int) -> int:
    """Bytes per hex-dump line that fit in ``cells`` columns (4 to 16, a multiple of 4).

    A line of ``n`` bytes takes ``10 + 3n - 1 + 2 + n`` cells (offset, hex, ASCII)."""
    return max(4, min(16, (cells - 11) // 4 // 4 * 4))


def hexdump(data: bytes, *, width: int = 16, limit: int = HEX_LIMIT) -> str:
    """Offset, hex and ASCII columns, ``width`` bytes a line; at most ``limit`` bytes,
    then a count of the rest."""
    lines = []
    for off in range(0, min(len(data), limit), width):
        chunk = data[off : off + width]
        hx = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:08x}  {hx:<{width * 3 - 1}}  {text}")
    if len(data) > limit:
        lines.append(f"... {len(data) - limit} more bytes")
    return "\n".join(lines)


@dataclass(frozen=True, kw_only=True)
class Rendered:
    """Bytes as shown: the ``view`` used, the encoding of the bytes, a ``note`` (``(not
    JSON)``, ``(not UTF-8)``, or empty) and the inert ``text``."""

    view: View
    encoding: Encoding
    note: str
    text: str

    @property
    def label(self) -> str:
        """``JSON``, ``text``, ``hex``, with the note: ``hex (not JSON)``."""
        name = {View.JSON: "JSON", View.TEXT: "text", View.HEX: "hex"}.get(self.view, str(self.view))
        return f"{name} {self.note}" if self.note else name

    def to_json(self) -> dict[str, Any]:
        return {"view": self.view, "encoding": self.encoding, "note": self.note, "text": self.text}


def render(data: bytes, view: View = View.AUTO, *, width: int = 80, limit: int = HEX_LIMIT) -> Rendered:
    """``data`` in ``view`` for ``width`` columns (the hex dump's bytes a line).

    ``auto`` is JSON when the bytes parse, text when printable UTF-8, hex otherwise.
    The JSON view of bytes that are not JSON is noted ``(not JSON)`` and shows them as
    the text or hex view would; the text view of bytes that are not UTF-8 is noted
    ``(not UTF-8)`` and replaces what does not decode."""
    enc, value = decode_bytes(data)
    if view is View.AUTO:
        view = {Encoding.JSON: View.JSON, Encoding.TEXT: View.TEXT}.get(enc, View.HEX)
    note = ""
    if view is View.JSON:
        if enc is Encoding.JSON:
            return Rendered(view=view, encoding=enc, note="", text=inert(pretty_json(value)))
        note = "(not JSON)"
        view = View.TEXT if enc is Encoding.TEXT else View.HEX
    if view is View.TEXT:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("utf-8", errors="replace")
            note = note or "(not UTF-8)"
        return Rendered(view=view, encoding=enc, note=note, text=inert(text))
    return Rendered(view=View.HEX, encoding=enc, note=note,
                    text=hexdump(data, width=hex_width(width), limit=limit))


def event_to_json(ev: Event, *, legacy: bool = False) -> dict[str, Any]:
    """One event as ``theater show --json`` gives it and the TUI copies it: its fields,
    ``data`` the payload (``null`` when the bytes are not JSON, and then ``not_json``
    has them decoded as text or hex, never a ``{"hex": ...}`` that reads like a payload),
    and ``values`` each byte value in the payload decoded (:class:`Decoded`)."""
    value = parse_json(ev.data)
    obj: dict[str, Any] = {
        "seq": ev.seq,
        "type": ev.type,
        "hash": ev.hash.hex(),
        "parent": ev.parent.hex(),
        "data": value if is_json(value) else None,
        "size": len(ev.data),
        "written_at": ev.written_at,
        "not_json": None,
        "values": [],
    }
    if is_json(value):
        obj["values"] = [d.to_json() for d in decoded(value, legacy=legacy)]
    else:
        enc, raw = decode_bytes(ev.data)
        obj["not_json"] = {"encoding": enc, "value": raw}
    return obj
