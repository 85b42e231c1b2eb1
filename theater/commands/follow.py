"""``theater events CHAIN --follow``: print a chain's events as they are committed."""

from __future__ import annotations

import time
from typing import IO

import orjson

from ..chain import END_TYPE
from ..text import inert_line

POLL = 0.1  # seconds between reads of a chain that has not ended


def follow_events(store: object, chain_id: str, *, start: int, limit: int | None, as_json: bool,
                  out: IO[bytes], poll: float = POLL) -> int:
    """Print the events of ``chain_id`` from ``start``, then every event committed after,
    each as soon as a read sees it, until the end event (or ``limit`` events); returns
    how many were printed. ``--json`` prints one JSON object per line (JSON lines: a
    followed chain has no last line to close an array with). Ctrl-C stops it (exit 130).
    Each read is a short read transaction of the store's reader, so a recorder or
    ``theater serve`` writing the chain is never blocked."""
    from .inspect import event_json

    seq, shown = start, 0
    while True:
        ended = False
        for ev in store.events(chain_id, seq, None if limit is None else seq + (limit - shown)):  # type: ignore[attr-defined]
            if as_json:
                out.write(orjson.dumps(event_json(ev)) + b"\n")
            else:
                out.write(f"{ev.seq:>8}  {ev.hash.hex()[:16]}  {len(ev.data):>7}B  {inert_line(ev.type)}\n".encode())
            seq, shown = ev.seq + 1, shown + 1
            ended = ev.type == END_TYPE
        out.flush()
        if ended or (limit is not None and shown >= limit):
            return shown
        time.sleep(poll)
