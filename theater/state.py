"""The actor's state at an event (issue 13 item 1): ``state_at(store, chain, seq)``.

An actor's state is the ``option<list<u8>>`` threaded through its export calls: each
export event records the state passed in (``args.state``) and, when the call
returned ``ok``, the state it returned (``result.ok[0]``). The state after the export
call at or before a seq is the one it returned, or, when it returned ``err`` or
trapped, the one it was given (the run kept it). No code runs: the bytes are read from
the recorded event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .canonical import decode_tagged_bytes, encode_tagged_bytes
from .chain import EXPORT_PREFIX, Event
from .decode import Encoding, decode_bytes
from .errors import UsageError
from .store import ChainInfo, Store

__all__ = ["StateAt", "StateEncoding", "decode_state", "export_state", "state_at"]


#: how the state's bytes read (JSON, printable UTF-8 text, other bytes, or no state at
#: all): the one decoder's :class:`theater.decode.Encoding`
StateEncoding = Encoding


def decode_state(data: bytes | None) -> tuple[StateEncoding, Any]:
    """``(encoding, value)``: parsed JSON when the bytes are JSON, the text when they are
    printable UTF-8, else the bytes in hex; ``(NONE, None)`` for no state (the one
    decoder, :func:`theater.decode.decode_bytes`)."""
    return decode_bytes(data)


@dataclass(frozen=True, kw_only=True)
class StateAt:
    """The state after the export call ``seq`` (``type``) of ``chain``; ``asked`` is the
    seq asked for (None: the last). ``state`` is the bytes (None: the actor has none)."""

    chain: str
    seq: int
    type: str
    asked: int | None
    state: bytes | None

    @property
    def encoding(self) -> StateEncoding:
        return decode_state(self.state)[0]

    @property
    def value(self) -> Any:
        """The decoded state: JSON value, text, or hex (see :func:`decode_state`)."""
        return decode_state(self.state)[1]

    def to_json(self) -> dict[str, Any]:
        enc, value = decode_state(self.state)
        return {
            "chain": self.chain,
            "seq": self.seq,
            "type": self.type,
            "asked": self.asked,
            "size": None if self.state is None else len(self.state),
            "encoding": enc,
            "value": value,
            "base64": None if self.state is None else encode_tagged_bytes(self.state),
        }


def _option_bytes(v: Any) -> tuple[bool, bytes | None]:
    """``(ok, bytes)`` of a recorded ``option<list<u8>>``: null, or {"some": "base64:..."}."""
    if v is None:
        return True, None
    if isinstance(v, dict) and list(v) == ["some"]:
        b = decode_tagged_bytes(v["some"])
        return b is not None, b
    return False, None


def export_state(ev: Event) -> bytes | None:
    """The state after one recorded export call (see the module docstring); raises
    :class:`UsageError` for an event that records no state this way."""
    payload = ev.payload()
    bad = UsageError(f"event {ev.seq} ({ev.type}) does not record an actor state (option<list<u8>>)")
    if not isinstance(payload, dict) or not isinstance(payload.get("args"), dict):
        raise bad
    result = payload.get("result")
    if isinstance(result, dict) and isinstance(result.get("ok"), list) and result["ok"]:
        ok, state = _option_bytes(result["ok"][0])
    else:  # err or trap: the state passed in is the state kept
        ok, state = _option_bytes(payload["args"].get("state"))
    if not ok:
        raise bad
    return state


def export_from(store: Store, chain_id: str, start: int, *, backwards: bool = False) -> Event | None:
    """The first export event after ``start`` (before it, ``backwards``), or None."""
    while True:
        at = store.find_type(chain_id, EXPORT_PREFIX, start, backwards=backwards)
        if at is None:
            return None
        ev = store.event(chain_id, at)
        if ev is not None and ev.type.startswith(EXPORT_PREFIX):
            return ev
        start = at  # the needle was inside another type: look further


def last_export(store: Store, chain_id: str, seq: int | None) -> Event | None:
    """The export event at or before ``seq`` (the last one when None), or None."""
    start = (store.max_seq(chain_id) or 0) + 1 if seq is None else seq + 1
    return export_from(store, chain_id, start, backwards=True)


def state_at(store: Store, chain: ChainInfo | str, seq: int | None = None) -> StateAt:
    """The actor's state after the export call at or before ``seq`` (default: the last)."""
    info = chain if isinstance(chain, ChainInfo) else store.resolve(chain)
    if seq is not None and seq < 0:
        raise UsageError("SEQ must be >= 0")
    ev = last_export(store, info.id, seq)
    if ev is None:
        where = "in it" if seq is None else f"at or before seq {seq}"
        raise UsageError(f"chain {info.id} has no export call {where}, so no state")
    return StateAt(chain=info.id, seq=ev.seq, type=ev.type, asked=seq, state=export_state(ev))
