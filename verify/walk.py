"""The integrity walk: rows in seq order, every hash recomputed.

Each event is hashed onto the hash before it (the genesis hash for seq 0): the parent
is never read from storage (storage v2 keeps none), so an event removed, reordered or
spliced in shows where its stored hash no longer follows (docs/verification.md).

:func:`verify_rows` verifies a v1 chain's rows against its header; :func:`walk` is its
loop, started from any state, so a part of a chain can be walked on its own
(verify/parallel.py). The first failure is reported as a :class:`~verify.results.Problem`
with its class, the seq where it was found, and the expected and computed (or found)
values. Rows are streamed, so memory does not grow with the chain's length.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from theater.blobs import _MARK as BLOB_MARK
from theater.blobs import STATE_EXPORTS
from theater.chain import END_TYPE, EVENT_TAG, HASH_SIZE, event_hash, genesis_hash, type_field

from .results import FailureKind, Problem, VerifyResult

#: ``on_event(seq, hash, type, data)``: called for every event that verified, in order
OnEvent = Callable[[int, bytes, str, bytes], None]

#: ``(seq, hash, previous hash, type, data)`` of the verified events that may carry a link
LinkRows = list[tuple[int, bytes, bytes, str, bytes]]

_PROGRESS_EVERY = 0xFFFF  # progress is reported when the count is a multiple of 65,536
_Q = struct.Struct(">Q")


def hex_or_repr(b: Any) -> str:
    """A stored value as shown in a report: bytes in hex, anything else as its repr."""
    return bytes(b).hex() if isinstance(b, (bytes, bytearray, memoryview)) else repr(b)


def verify_rows(
    chain_id: str,
    header: bytes,
    rows: Iterable[tuple[Any, ...]],
    *,
    progress: Callable[[int], None] | None = None,
    on_event: OnEvent | None = None,
) -> VerifyResult:
    """Verify rows ``(seq, hash, parent, type, data, ...)`` in stored order against a header.

    Per row, in this order: malformed fields; sequence (duplicate seq, gap); an exact
    repeat of the previous event; the stored hash against the one recomputed over the
    previous event's hash (for seq 0, the header's genesis hash). A row's ``parent``
    is not trusted or needed (the rows of an export carry one): the walk links each
    event to the hash it verified before it.
    ``on_event(seq, hash, type, data)`` is called for every event that verified, in
    order (the checkpoint check and the random audit ride along this single pass).
    """
    if not isinstance(header, (bytes, bytearray)) or not header:
        p = Problem(kind=FailureKind.MALFORMED, seq=None, message="the chain has no header")
        return VerifyResult(chain=chain_id, events=0, complete=False, head=None, problems=(p,))
    bad = header_problem(bytes(header))
    if bad is not None:
        return VerifyResult(chain=chain_id, events=0, complete=False, head=None, problems=(bad,))
    genesis = genesis_hash(bytes(header))
    four = ((row[0], row[1], row[3], row[4]) for row in rows)
    return finish(walk(chain_id, genesis, four, genesis, None, 0, False, progress, on_event), progress)


def header_problem(header: bytes) -> Problem | None:
    """A v1 header whose ``component_sha256`` is not 64 lowercase hex is malformed: it
    cannot name the component the chain recorded (and must never reach a path)."""
    try:
        obj = orjson.loads(header)
    except orjson.JSONDecodeError:
        return None  # not JSON: the hash walk still checks what it binds
    if not isinstance(obj, dict) or "component_sha256" not in obj:
        return None  # a header that names no component (replay refuses it)
    sha = obj["component_sha256"]
    if isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha):
        return None
    return Problem(kind=FailureKind.MALFORMED, seq=None,
        message=f"the header's component_sha256 {str(sha)[:80]!r} is not 64 lowercase hex digits",
        expected="64 lowercase hex digits", computed=str(sha)[:80])


def finish(result: VerifyResult, progress: Callable[[int], None] | None) -> VerifyResult:
    """What follows a walk that found no problem: the last progress call and the prefix note."""
    if result.ok:
        if progress is not None:
            progress(result.events)
        if not result.complete:
            return result.with_notes("no end event: the recording did not finish; verified as a prefix")
    return result


def walk(
    chain_id: str,
    genesis: bytes,
    rows: Iterable[tuple[Any, Any, Any, Any]],
    head: bytes,
    prev_hash: bytes | None,
    expected: int,
    ended: bool,
    progress: Callable[[int], None] | None,
    on_event: OnEvent | None,
    *,
    names: dict[int, Any] | None = None,
    joined: Callable[[Any], Any] | None = None,
    blob_rows: list[tuple[int, str, bytes]] | None = None,
    link_rows: LinkRows | None = None,
) -> VerifyResult:
    """The walk of :func:`verify_rows` over rows ``(seq, hash, type, data)``, from
    a state: the head, the previous row's hash, the next seq, whether the end event was
    seen. The events before are 0 .. expected - 1, all verified, so ``expected`` is also
    their count. A part of a chain is walked from the state its previous row leaves.

    ``type`` is the type's name; with ``names`` it is the stored type id instead
    (``Store.typed_rows``): the name is ``names[id]`` for an int id found there, else
    ``joined(seq)``, and the rows are judged exactly as the same rows with their names.

    Returns the first problem, or a passing result (without notes) whose ``head``,
    ``events`` and ``complete`` are the state after the last row. With ``blob_rows``,
    each verified event that may refer to a blob (a state export whose data holds
    ``"blob:``) is appended to it as ``(seq, type name, data)`` (verify/blobs.py).
    With ``link_rows``, each verified event whose data holds ``"cause":`` or ``"to":``,
    and the end event, is appended to it as ``(seq, hash, previous hash, type name,
    data)`` (verify/links.py: the run's links are checked from these).

    Every row is judged by the rules in their documented order (the general path
    below). A row that passes them all, as nearly every row does, is taken by a fast
    path first: exact types, the expected seq, the link, no repeat, a type seen
    before (cached as its hashed field by its name or id; never the end event, and the
    cache is emptied at the end event) and a matching hash. The fast path accepts a
    row only when the general path would, with the same effect.
    """
    fields: dict[Any, bytes] = {}  # name (or id) -> its hashed field, for types verified before
    watch: set[Any] = set()  # the cached names (or ids) of types whose data may refer to a blob
    typed = names is not None
    known: dict[Any, Any] = names if names is not None else {}  # id -> name
    resolve: Callable[[Any], Any] = joined if joined is not None else _no_name
    tag, join, pack, sha256 = EVENT_TAG, b"".join, _Q.pack, hashlib.sha256
    type_of, int_, bytes_ = type, int, bytes
    key_type = int if typed else str  # the fast path's keys: exact ints (ids) or exact strs (names)
    mark, cause, to = BLOB_MARK, b'"cause":', b'"to":'
    for seq, h, key, data in rows:
        if (type_of(seq) is int_ and seq == expected and h != prev_hash and type_of(data) is bytes_
                and type_of(key) is key_type):
            tf = fields.get(key)
            if tf is not None and sha256(join((tag, pack(seq), head, tf, pack(len(data)), data))).digest() == h:
                if link_rows is not None and (cause in data or to in data):
                    link_rows.append((seq, h, head, known[key] if typed else key, data))
                head = prev_hash = h
                expected = seq + 1
                if on_event is not None:
                    on_event(seq, h, known[key] if typed else key, data)
                if key in watch and blob_rows is not None and mark in data:
                    blob_rows.append((seq, known[key] if typed else key, data))
                if progress is not None and not expected & _PROGRESS_EVERY:
                    progress(expected)
                continue
        # the general path: every rule, in the documented order, on the row's name
        if typed:
            type_ = known[key] if type_of(key) is int_ and key in known else resolve(seq)
        else:
            type_ = key
        if not isinstance(seq, int) or isinstance(seq, bool):
            return _fail(chain_id, expected, ended, head, FailureKind.MALFORMED, expected,
                         f"seq is {type(seq).__name__}, not an integer")
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            return _fail(chain_id, expected, ended, head, FailureKind.MALFORMED, seq,
                         f"hash is not {HASH_SIZE} bytes", None, hex_or_repr(h))
        if not isinstance(type_, str) or not type_:
            return _fail(chain_id, expected, ended, head, FailureKind.MALFORMED, seq,
                         "type is not a non-empty text value", None, repr(type_))
        if not isinstance(data, bytes):
            return _fail(chain_id, expected, ended, head, FailureKind.MALFORMED, seq,
                         f"data is {type(data).__name__}, not bytes")
        if seq != expected:
            if seq == expected - 1:
                return _fail(chain_id, expected, ended, head, FailureKind.DUPLICATE, seq,
                             f"seq {seq} appears twice", str(expected), str(seq))
            return _fail(
                chain_id, expected, ended, head, FailureKind.SEQUENCE_GAP, expected,
                f"expected seq {expected}, found seq {seq}: {seq - expected} event(s) missing",
                str(expected), str(seq),
            )
        if ended:
            return _fail(chain_id, expected, ended, head, FailureKind.MALFORMED, seq, "an event follows the end event")
        if h == prev_hash:
            return _fail(chain_id, expected, ended, head, FailureKind.DUPLICATE, seq,
                         f"event {seq} repeats event {seq - 1}", None, h.hex())
        computed = event_hash(seq, head, type_, data)
        if computed != h:
            if seq == 0:
                what = ("event 0's stored hash is not the hash of its fields on the header's genesis hash"
                        " (event 0 or the header was changed)")
            else:
                what = (f"stored hash of event {seq} ({type_}) is not the hash of its fields on event {seq - 1}'s"
                        " (the event was changed, or events before it removed, reordered or spliced in)")
            return _fail(chain_id, expected, ended, head, FailureKind.HASH_MISMATCH, seq, what,
                         h.hex(), computed.hex())
        if link_rows is not None and (cause in data or to in data or type_ == END_TYPE):
            link_rows.append((seq, h, head, type_, data))
        head = prev_hash = h
        expected = seq + 1
        if on_event is not None:
            on_event(seq, h, type_, data)
        if blob_rows is not None and type_ in STATE_EXPORTS and mark in data:
            blob_rows.append((seq, type_, data))
        if type_ == END_TYPE:
            ended = True
            fields.clear()  # whatever follows takes the general path (and fails there)
            watch.clear()
        elif type_of(key) is key_type and (not typed or key in known):
            # cached by what the fast path looks up: the name, or an id whose name is names[id]
            if len(fields) >= 4096:  # bounded, whatever the chain holds
                fields.clear()
                watch.clear()
            fields[key] = type_field(type_)
            if type_ in STATE_EXPORTS:
                watch.add(key)
        if progress is not None and not expected & _PROGRESS_EVERY:
            progress(expected)
    return VerifyResult(chain=chain_id, events=expected, complete=ended, head=head)


def _no_name(seq: Any) -> None:
    return None


def _fail(chain_id: str, n: int, ended: bool, head: bytes, kind: FailureKind, seq: int | None, msg: str,
          exp: str | None = None, got: str | None = None) -> VerifyResult:
    problem = Problem(kind=kind, seq=seq, message=msg, expected=exp, computed=got)
    return VerifyResult(chain=chain_id, events=n, complete=ended, head=head, problems=(problem,))




def walk_store(
    store: Any,
    chain_id: str,
    genesis: bytes,
    start: int,
    stop: int | None,
    page: int,
    state: tuple[bytes, bytes | None, int, bool],
    progress: Callable[[int], None] | None,
    on_event: OnEvent | None,
    blob_rows: list[tuple[int, str, bytes]] | None = None,
    link_rows: LinkRows | None = None,
) -> VerifyResult:
    """:func:`walk` over the rows ``start`` .. ``stop`` of a chain in ``store``, from
    ``state`` (head, previous hash, next seq, ended), with the same result.

    Reads type ids rather than names (``Store.typed_rows``: no join, no str per row)
    when the file's layout lets each be mapped to exactly the name the join gives;
    otherwise reads names (``Store.hashed_rows``)."""
    head, prev_hash, expected, ended = state
    typed = store.typed_rows(chain_id, start, stop, page=page)
    if typed is None:
        rows = store.hashed_rows(chain_id, start, stop, page=page)
        return walk(chain_id, genesis, rows, head, prev_hash, expected, ended, progress, on_event,
                    blob_rows=blob_rows, link_rows=link_rows)
    names, rows = typed
    return walk(chain_id, genesis, rows, head, prev_hash, expected, ended, progress, on_event, names=names,
                joined=lambda seq: store.joined_type(chain_id, seq), blob_rows=blob_rows, link_rows=link_rows)
