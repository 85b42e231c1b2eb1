"""Finding events by content (issue 17 item 3): the SQL behind the TUI's ``/`` and
``\\`` and ``theater events --grep/--type``.

A pattern is plain text, or a regular expression after ``re:`` (Python's ``re``).
Case is smart, as in vim and ripgrep: a pattern without a capital letter matches
any case, one with a capital matches exactly. A pattern is looked for in:

- the event type (``get-random``, ``wasi:io/``);
- the data as stored: arguments, results, log text (canonical JSON, so a ``"`` in
  the pattern is looked for as ``\\"``);
- decoded bytes: every ``"base64:..."`` value (messages, bodies, state, random
  bytes) and the actor's state stored as a blob (theater/blobs.py).

Plain text is one SQL scan of the chain in SQLite's C: ``instr`` over the type ids
that match (event_types is small) and over the data, and over the three base64
forms of the pattern (one per alignment of its first byte in a group of three
bytes, their characters that depend on the pattern alone; the pattern as typed, and
for a lowercase pattern its lower, upper and capitalised forms). A row found only by
a base64 form is checked in Python by decoding its bytes (a false positive is
dropped); a mixed-case spelling of a lowercase pattern inside base64 (``HeLLo``) is
not found. Patterns of fewer than 3 characters are not looked for inside base64.
A regular expression runs as SQLite ``REGEXP``, a Python function over each row's
type, data and decoded bytes: slower (docs/performance.md has both figures).
"""

from __future__ import annotations

import base64
import re
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from ..blobs import decompress
from ..canonical import BYTES_TAG, decode_tagged_bytes
from ..errors import UsageError
from .rows import RowReader

__all__ = ["Pattern", "parse_pattern", "matching_seqs", "matching_rows", "seqs_of_types", "REGEX_PREFIX"]

REGEX_PREFIX = "re:"
#: below this many characters a plain pattern is not looked for inside base64
MIN_BASE64 = 3
_B64 = re.compile(rb'"' + re.escape(BYTES_TAG.encode()) + rb'([A-Za-z0-9+/=]*)"')
_REGEXP = "theater_regexp"
_B64_MARK = b'"' + BYTES_TAG.encode()


@dataclass(frozen=True, kw_only=True, slots=True)
class Pattern:
    """A parsed search pattern: ``text`` as typed (without ``re:``)."""

    text: str
    regex: bool
    ignore_case: bool

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "regex": self.regex, "ignore_case": self.ignore_case}

    @property
    def compiled(self) -> re.Pattern[str]:
        return re.compile(self.text if self.regex else re.escape(self.text),
                          re.IGNORECASE if self.ignore_case else 0)

    def describe(self) -> str:
        return (REGEX_PREFIX if self.regex else "") + self.text


def parse_pattern(text: str) -> Pattern:
    """``re:...`` a regular expression, anything else plain text; smart case.
    An empty pattern or a regex that does not compile is a :class:`UsageError`."""
    regex = text.startswith(REGEX_PREFIX)
    body = text[len(REGEX_PREFIX):] if regex else text
    if not body:
        raise UsageError("an empty pattern matches every event; give some text (or re:REGEX)")
    if regex:
        try:
            re.compile(body)
        except re.error as e:
            raise UsageError(f"{body!r} is not a regular expression ({e}); "
                             "drop the re: prefix to search for the text itself") from None
    ignore_case = body == body.lower() if not regex else not any(c.isupper() for c in body)
    return Pattern(text=body, regex=regex, ignore_case=ignore_case)


# -- plain text ------------------------------------------------------------------------


def base64_forms(needle: bytes) -> list[str]:
    """The base64 text that ``needle`` encodes to wherever it lies in a longer byte
    string: one form per alignment (0, 1 or 2 bytes into a group of three), each cut
    to the characters that depend on ``needle`` alone."""
    forms = []
    n = len(needle)
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + needle).decode()
        first = -(-8 * k // 6)  # the first character whose bits all lie in needle
        last = (8 * (k + n)) // 6  # one past the last such character
        core = enc[first:last]
        if core:
            forms.append(core)
    return forms


def _case_forms(p: Pattern) -> list[str]:
    if not p.ignore_case:
        return [p.text]
    return list(dict.fromkeys([p.text, p.text.lower(), p.text.upper(), p.text.capitalize(), p.text.title()]))


def _decoded_values(data: bytes) -> Iterator[bytes]:
    for m in _B64.finditer(data):
        raw = decode_tagged_bytes(BYTES_TAG + m.group(1).decode())
        if raw is not None:
            yield raw


def _bytes_match(p: Pattern) -> Callable[[bytes], bool]:
    if p.regex:
        rx = re.compile(p.text.encode("utf-8", "surrogatepass"), re.IGNORECASE if p.ignore_case else 0)
        return lambda b: rx.search(b) is not None
    needle = p.text.encode()
    if p.ignore_case:
        low = needle.lower()
        return lambda b: low in b.lower()
    return lambda b: needle in b


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _json_escaped(text: str) -> str:
    return orjson.dumps(text).decode()[1:-1]


class _Plan:
    """The SQL of one search on one store: ``where`` (over ``e`` and ``{type}``) and its
    parameters, and ``sure``, an SQL expression true when a row matched without a
    base64 form (no Python check needed)."""

    def __init__(self, store: RowReader, p: Pattern | None, type_p: Pattern | None) -> None:
        self.store = store
        self.conds: list[str] = []
        self.params: list[Any] = []
        self.sure = "1"
        self.sure_params: list[Any] = []
        self.check: Callable[[bytes], bool] | None = None
        if type_p is not None:
            self._type_only(type_p)
        if p is not None:
            if p.regex:
                self._regex(p)
            else:
                self._plain(p)

    def _type_ids(self, p: Pattern) -> tuple[str, list[Any]]:
        rx = p.compiled
        if self.store.layout == 1:
            return f"{self._register(p, 'type')}(e.type)", []
        names = self.store.reader.execute("SELECT id, name FROM event_types").fetchall()
        ids = [i for i, name in names if isinstance(name, str) and rx.search(name)]
        if not ids:
            return "0", []
        return f"e.type IN ({', '.join('?' * len(ids))})", ids

    def _type_only(self, p: Pattern) -> None:
        sql, params = self._type_ids(p)
        self.conds.append(sql)
        self.params.extend(params)

    def _register(self, p: Pattern, what: str) -> str:
        """Register a Python match function on the reader; returns its SQL name."""
        conn = self.store.reader
        name = f"{_REGEXP}_{what}_{len(self.conds)}"
        if what == "type":
            rx = p.compiled
            conn.create_function(name, 1, lambda t: 1 if isinstance(t, str) and rx.search(t) else 0,
                                 deterministic=True)
            return name
        rx = p.compiled
        match = _bytes_match(p)
        mark = _B64_MARK

        def row(type_: Any, data: Any) -> int:
            if isinstance(type_, str) and rx.search(type_):
                return 1
            if not isinstance(data, bytes):
                return 0
            if mark not in data:
                return 1 if match(data) else 0
            if match(_B64.sub(b'""', data)):
                return 1
            return 1 if any(match(v) for v in _decoded_values(data)) else 0

        conn.create_function(name, 2, row, deterministic=True)
        return name

    def _regex(self, p: Pattern) -> None:
        name = self._register(p, "row")
        cols = self.store._cols()
        blob_sql, blob_params = self._blob_refs(p)
        self.conds.append(f"({name}({cols['type']}, e.data){blob_sql})")
        self.params.extend(blob_params)

    def _blob_refs(self, p: Pattern) -> tuple[str, list[Any]]:
        """``OR instr(e.data, ?)...`` for every stored state blob whose bytes match."""
        match = _bytes_match(p)
        found: list[bytes] = []
        try:
            rows = self.store.reader.execute("SELECT sha256, codec, bytes FROM blobs").fetchall()
        except Exception:  # noqa: BLE001 (a layout-1 file has no blobs table)
            rows = []
        for sha, codec, stored in rows:
            if not isinstance(sha, bytes) or not isinstance(stored, bytes):
                continue
            try:
                raw = decompress(str(codec), stored)
            except ValueError:
                continue
            if match(raw):
                found.append(f'"blob:{sha.hex()}"'.encode())
        return "".join(" OR instr(e.data, ?) > 0" for _ in found), list(found)

    def _plain(self, p: Pattern) -> None:
        type_sql, type_params = self._type_ids(p)
        escaped = _json_escaped(p.text)
        # LIKE (ASCII case folded) and GLOB run several times faster than instr over a
        # BLOB, which SQLite converts to text for each row first
        if p.ignore_case:
            data_sql, data_params = "CAST(e.data AS TEXT) LIKE ? ESCAPE '\\'", ["%" + _like_escape(escaped) + "%"]
        else:
            data_sql, data_params = "CAST(e.data AS TEXT) GLOB ?", ["*" + _glob_escape(escaped) + "*"]
        blob_sql, blob_params = self._blob_refs(p)
        forms: list[str] = []
        if len(p.text.encode()) >= MIN_BASE64:
            for variant in _case_forms(p):
                forms.extend(base64_forms(variant.encode()))
        forms = list(dict.fromkeys(forms))
        has_b64 = "CAST(e.data AS TEXT) GLOB ?"
        mark = "*" + _glob_escape(_B64_MARK.decode()) + "*"
        b64, b64_params = "", []
        if forms:
            b64 = f" OR ({has_b64} AND ({' OR '.join('instr(e.data, ?) > 0' for _ in forms)}))"
            b64_params = [mark, *(f.encode() for f in forms)]
        self.conds.append(f"({type_sql} OR {data_sql}{blob_sql}{b64})")
        self.params.extend([*type_params, *data_params, *blob_params, *b64_params])
        # a row is sure without a look in Python when its type or a state blob matched,
        # or its data did and holds no base64 (whose characters can spell the pattern)
        self.sure = f"({type_sql}{blob_sql} OR ({data_sql} AND NOT {has_b64}))"
        self.sure_params = [*type_params, *blob_params, *data_params, mark]
        self.check = _bytes_match(p)

    @property
    def where(self) -> str:
        return " AND ".join(self.conds) if self.conds else "1"

    def keep(self, sure: Any, data: Any) -> bool:
        """Whether a row the SQL found is a match (a base64 candidate decoded and checked)."""
        if sure or self.check is None:
            return True
        if not isinstance(data, bytes):
            return False
        return self.check(_B64.sub(b'""', data)) or any(self.check(v) for v in _decoded_values(data))


def _patterns(grep: str | Pattern | None, type_pattern: str | Pattern | None) -> tuple[Pattern | None, Pattern | None]:
    def parse(v: str | Pattern | None) -> Pattern | None:
        return v if isinstance(v, Pattern) or v is None else parse_pattern(v)

    return parse(grep), parse(type_pattern)


def matching_seqs(store: RowReader, chain_id: str, *, grep: str | Pattern | None = None,
                  type_pattern: str | Pattern | None = None) -> array[int]:
    """The seqs (ascending) of the chain's events that match ``grep`` (anywhere) and
    ``type_pattern`` (in the type), as an ``array('q')``: one scan in SQLite."""
    p, tp = _patterns(grep, type_pattern)
    plan = _Plan(store, p, tp)
    cols = store._cols()
    out: array[int] = array("q")
    if plan.check is None:
        cur = store.reader.execute(
            f"SELECT e.seq FROM {cols['from']} WHERE e.chain = ? AND typeof(e.seq) = 'integer' AND {plan.where}"
            " ORDER BY e.seq", [store.chain_key(chain_id), *plan.params])
        while rows := cur.fetchmany(65536):
            out.extend(r[0] for r in rows)
        return out
    # the data only of the rows to look at in Python (NULL for the sure ones)
    cur = store.reader.execute(
        f"SELECT e.seq, CASE WHEN {plan.sure} THEN NULL ELSE e.data END FROM {cols['from']}"
        f" WHERE e.chain = ? AND typeof(e.seq) = 'integer' AND {plan.where} ORDER BY e.seq",
        [*plan.sure_params, store.chain_key(chain_id), *plan.params])
    keep = plan.keep
    while rows := cur.fetchmany(65536):
        out.extend(seq for seq, data in rows if data is None or keep(False, data))
    return out


def matching_rows(store: RowReader, chain_id: str, *, grep: str | Pattern | None = None,
                  type_pattern: str | Pattern | None = None, start: int = 0,
                  stop: int | None = None) -> Iterator[int]:
    """The seqs of matching events in ``[start, stop)`` in seq order, streamed in pages
    (constant memory, for ``theater events``); the caller reads each event."""
    p, tp = _patterns(grep, type_pattern)
    plan = _Plan(store, p, tp)
    cols = store._cols()
    sql = (f"SELECT e.seq, {plan.sure}, e.data FROM {cols['from']} WHERE e.chain = ?"
           f" AND typeof(e.seq) = 'integer' AND e.seq >= ?" + ("" if stop is None else " AND e.seq < ?")
           + f" AND {plan.where} ORDER BY e.seq LIMIT 1024")
    key = store.chain_key(chain_id)
    at = start
    while True:
        params = [*plan.sure_params, key, at, *(() if stop is None else (stop,)), *plan.params]
        rows = store.reader.execute(sql, params).fetchall()
        for seq, sure, data in rows:
            if plan.keep(sure, data):
                yield int(seq)
        if len(rows) < 1024:
            return
        at = int(rows[-1][0]) + 1


def seqs_of_types(store: RowReader, chain_id: str, *, keep: Callable[[str], bool]) -> array[int]:
    """The seqs (ascending) of the chain's events whose type ``keep`` accepts: the types
    are chosen from the small event_types table, the events by an index scan."""
    if store.layout == 1:
        legacy = store.reader.execute(
            "SELECT seq, type FROM events WHERE chain = ? AND typeof(seq) = 'integer' ORDER BY seq", (chain_id,))
        return array("q", (s for s, t in legacy if isinstance(t, str) and keep(t)))
    ids = [i for i, name in store.reader.execute("SELECT id, name FROM event_types")
           if isinstance(name, str) and keep(name)]
    out: array[int] = array("q")
    if not ids:
        return out
    cur = store.reader.execute(
        f"SELECT seq FROM events WHERE chain = ? AND typeof(seq) = 'integer' AND type IN ({', '.join('?' * len(ids))})"
        " ORDER BY seq", (store.chain_key(chain_id), *ids))
    while rows := cur.fetchmany(65536):
        out.extend(r[0] for r in rows)
    return out
