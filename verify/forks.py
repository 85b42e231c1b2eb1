"""A fork's link to its source (issue 13 item 2): its prefix must be the source's.

A fork's header names ``fork_of``: the source chain, the fork point's seq and the
source's hash there (replay/fork.py). The fork's own hashes bind that header, so they
are not the source's; what ties the two is that the fork's events ``0 .. seq`` are
the source's, type and data byte for byte, and that the source's event ``seq`` has
the hash ``fork_of`` names. When the source is in the database both are checked, and
any difference is ``broken_link`` at the first seq where it shows; when it is not,
a note says the link was not checked. No code runs.
"""

from __future__ import annotations

from typing import Any

import orjson

from theater.store import ChainInfo, Store

from .results import FailureKind, Problem


def fork_link(store: Store, info: ChainInfo) -> tuple[Problem | None, str | None]:
    """``(problem, note)`` for a chain whose header names ``fork_of``; ``(None, None)``
    for any other chain."""
    try:
        header = orjson.loads(info.header)
    except orjson.JSONDecodeError:
        return None, None
    link = header.get("fork_of") if isinstance(header, dict) else None
    if link is None:
        return None, None
    if not isinstance(link, dict) or not isinstance(link.get("chain"), str) or type(link.get("seq")) is not int \
            or not isinstance(link.get("head"), str) or link["seq"] < 0:
        return _broken(None, "the header's fork_of is not {chain, seq, head}", None, repr(link)[:80]), None
    source, seq, head = link["chain"], link["seq"], link["head"]
    if not store.chain_exists(source):
        return None, f"a fork of {source} at seq {seq}: that chain is not in this database, the link was not checked"
    n = 0
    for mine, theirs in zip(store.event_rows(info.id, 0, seq + 1, written_at=False),
                            store.event_rows(source, 0, seq + 1, written_at=False), strict=False):
        if mine[0] != n or theirs[0] != n:
            break
        if mine[3] != theirs[3] or bytes(mine[4]) != bytes(theirs[4]):
            what = "type" if mine[3] != theirs[3] else "data"
            return _broken(n, f"event {n} of the fork is not event {n} of its source {source} (its {what} differs)",
                           _show(theirs[3], theirs[4]), _show(mine[3], mine[4])), None
        if n == seq and _hex(theirs[1]) != head:
            return _broken(n, f"the source {source} has another hash at the fork point {seq} than fork_of names",
                           head, _hex(theirs[1])), None
        n += 1
    if n != seq + 1:
        return _broken(n, f"the fork and its source {source} do not both hold events 0 .. {seq} "
                       f"(the fork point): they agree on {n}", str(seq + 1), str(n)), None
    return None, None


def _broken(seq: int | None, message: str, expected: str | None, computed: str | None) -> Problem:
    return Problem(kind=FailureKind.BROKEN_LINK, seq=seq, message=message, expected=expected, computed=computed)


def _hex(v: Any) -> str:
    return bytes(v).hex() if isinstance(v, (bytes, bytearray, memoryview)) else repr(v)


def _show(type_: Any, data: Any) -> str:
    body = bytes(data) if isinstance(data, (bytes, bytearray, memoryview)) else repr(data).encode()
    text = body[:80].decode("utf-8", "replace")
    return f"{type_} {text}" + ("..." if len(body) > 80 else "")
