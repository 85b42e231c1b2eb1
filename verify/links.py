"""Verify a run: every chain of it, and every link between its chains both ways,
without running code (docs/chain-format.md, "Links between chains").

Each chain is walked once by :func:`verify.integrity.verify_chain`; the events that
carry a link (``cause``, ``to``, ``stopped``, a header's ``parent``) are kept as the
walk passes them, then matched:

- **receiver to sender**: a received message's ``cause`` names an event of another
  chain of the run that exists, has that hash (or, for a request, that parent), was
  aimed at this chain, and sent this payload (``broken_link`` otherwise);
- **sender to receiver**: a sent message was delivered (an event whose ``cause`` names
  it) or its loss is recorded in the receiver's end event (``undelivered``); a message
  missing while a later one from the same sender was delivered was deleted
  (``broken_link``); a request's, spawn's or stop's ``to`` names the event or chain that
  names it back.

Messages to a chain that is incomplete are not required to be delivered (the run was
interrupted); everything that exists must still match.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from theater.chain import END_TYPE, genesis_hash
from theater.links import CHANNEL_ID_TAG, REQUEST_ID_TAG, derive_id, full_link, pending_link
from theater.store import Store
from theater.store.runs import RunInfo, resolve_run

from .integrity import verify_chain
from .results import FailureKind, VerifyResult

__all__ = ["LinkProblem", "RunVerifyResult", "follow_links", "verify_run"]

_MESSAGES = ("#send", "#send-on-channel", "#close-channel")


@dataclass(frozen=True, kw_only=True)
class LinkProblem:
    """A link that does not hold: ``chain``/``seq`` is the event holding (or missing)
    the link, ``other_chain``/``other_seq`` the event it names (or should be named by)."""

    kind: FailureKind
    chain: str
    seq: int | None
    other_chain: str | None
    other_seq: int | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"class": self.kind, "chain": self.chain, "seq": self.seq, "other_chain": self.other_chain,
                "other_seq": self.other_seq, "message": self.message}

    def summary(self) -> str:
        at = f"{self.chain} seq {self.seq}" if self.seq is not None else self.chain
        other = "" if self.other_chain is None else (
            f" <-> {self.other_chain}" + ("" if self.other_seq is None else f" seq {self.other_seq}"))
        return f"{self.kind} {at}{other}: {self.message}"


@dataclass(frozen=True, kw_only=True)
class RunVerifyResult:
    """The outcome of verifying a run: each chain's own result, and the links."""

    run: str
    chains: tuple[VerifyResult, ...]
    problems: tuple[LinkProblem, ...] = ()
    links: int = 0  # links checked

    @property
    def ok(self) -> bool:
        """Every chain verified and every link holds."""
        return not self.problems and all(c.ok for c in self.chains)

    @property
    def events(self) -> int:
        return sum(c.events for c in self.chains)

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run, "ok": self.ok, "events": self.events, "links": self.links,
                "chains": [c.to_json() for c in self.chains],
                "problem": None if not self.problems else self.problems[0].to_json(),
                "problems": [p.to_json() for p in self.problems]}

    def summary(self) -> str:
        if self.ok:
            return (f"ok run {self.run}: {len(self.chains)} chains, {self.events} events, "
                    f"{self.links} links hold")
        bad = sum(1 for c in self.chains if not c.ok)
        return (f"FAILED run {self.run}: {bad} of {len(self.chains)} chains fail, "
                f"{len(self.problems)} link problem(s)")


class _Ev:
    """An event that carries a link. ``payload`` is decoded from ``data`` when first
    read (orjson gives the same dict each time); ``send``/``recv`` are what the fast
    path of :class:`_Checker` needs of a message's two ends, taken from that payload
    by :func:`_fast_fields` when the event has the plain shape (else None)."""

    __slots__ = ("seq", "hash", "parent", "type", "data", "_payload", "send", "recv")

    def __init__(self, seq: int, h: bytes, parent: bytes, type_: str, data: bytes, payload: Any,
                 send: tuple[str, tuple[str, tuple[Any, ...]]] | None,
                 recv: tuple[str, int, Any, str, tuple[Any, ...]] | None) -> None:
        self.seq, self.hash, self.parent, self.type, self.data = seq, h, parent, type_, data
        self._payload, self.send, self.recv = payload, send, recv

    @property
    def payload(self) -> Any:
        p = self._payload
        if p is None:
            p = self._payload = orjson.loads(self.data)
        return p


@dataclass
class _Chain:
    id: str
    genesis: bytes
    header: dict[str, Any]
    result: VerifyResult
    events: dict[int, _Ev] = field(default_factory=dict)  # the events that carry links

    @property
    def complete(self) -> bool:
        return self.result.complete and self.result.ok


#: a message sender's function -> the receiver's function and the arguments it gets
_SENT_AS = {"send": ("handle-send", ("msg",)), "send-on-channel": ("handle-channel-message", ("channel-id", "msg")),
            "close-channel": ("handle-channel-close", ("channel-id",))}


@functools.cache
def _fn(type_: str) -> str:
    return type_.rpartition("#")[2]


@functools.cache
def _kind(type_: str) -> tuple[str, str | None, tuple[str, ...], bool]:
    """Per event type: its function; for a host message send, the receiver function it
    is delivered to and the argument names the receiver gets (else None, ()); whether
    it is an export."""
    fn = _fn(type_)
    sent = _SENT_AS.get(fn) if type_.startswith("host:") else None
    return fn, None if sent is None else sent[0], () if sent is None else sent[1], type_.startswith("export:")


def _fast_fields(type_: str, payload: dict[str, Any]) -> tuple[Any, Any]:
    """What the fast path needs of an event, or None where its shape is not the plain
    one (then the checker's general rules judge it, from the payload):

    - a host message send (``send``, ``send-on-channel``, ``close-channel``) with no
      ``cause``, whose ``to`` names only a chain (text): ``(to chain, (receiver
      function, arguments))``, the arguments as :meth:`_Checker.check_cause` expects them;
    - an export event with no ``to``, whose ``cause`` is a full link (text chain, int
      seq, ``hash``, no ``parent``): ``(chain, seq, hash, function, params)``.

    So a ``send`` event holds no ``cause`` and a ``recv`` event no ``to``: the checker's
    loops skip them there without decoding the payload again.
    """
    fn, sent_as, names, export = _kind(type_)
    if sent_as is not None:
        if "cause" not in payload:
            to = payload.get("to")
            if type(to) is dict and "hash" not in to and "parent" not in to:
                chain = to.get("chain")
                if type(chain) is str:
                    args = payload.get("args")
                    vals = tuple(map(args.get, names)) if isinstance(args, dict) else (None,) * len(names)
                    return (chain, (sent_as, vals)), None
    elif export and "to" not in payload:
        cause = payload.get("cause")
        if type(cause) is dict and "hash" in cause and "parent" not in cause:
            chain, seq = cause.get("chain"), cause.get("seq")
            if type(chain) is str and type(seq) is int:
                args = payload.get("args")
                p = args.get("params") if isinstance(args, dict) else None
                return None, (chain, seq, cause["hash"], fn, tuple(p) if isinstance(p, list) else ())
    return None, None


def _collect(store: Store, chain_id: str, *, fast: bool = True) -> _Chain:
    info = store.chain(chain_id)
    header_bytes = bytes(info.header)
    genesis = genesis_hash(header_bytes)
    try:
        header = orjson.loads(header_bytes)
    except orjson.JSONDecodeError:
        header = {}
    # only an event holding a link matters: "cause"/"to"/"stopped" sit at the top level
    # of the data, "undelivered" in an end event; the walk keeps them as it passes them
    # (no call per event), and they are decoded after it
    rows: list[tuple[int, bytes, bytes, str, bytes]] = []
    result = verify_chain(store, info, link_rows=rows)
    kept: dict[int, _Ev] = {}
    loads, decode_error, fields = orjson.loads, orjson.JSONDecodeError, _fast_fields
    for seq, h, parent, type_, data in rows:
        try:
            payload = loads(data)
        except decode_error:
            continue
        if type(payload) is dict:
            send, recv = fields(type_, payload) if fast else (None, None)
            # a plain message end keeps only its fields: the payload is decoded again if
            # the general rules need it (few objects kept: no collector passes over them)
            kept[seq] = _Ev(seq, h, parent, type_, data, None if send or recv else payload, send, recv)
    return _Chain(info.id, genesis, header if isinstance(header, dict) else {}, result, kept)


def _params(ev: _Ev) -> list[Any]:
    args = ev.payload.get("args")
    p = args.get("params") if isinstance(args, dict) else None
    return p if isinstance(p, list) else []


def _arg(ev: _Ev, name: str) -> Any:
    args = ev.payload.get("args")
    return args.get(name) if isinstance(args, dict) else None


class _Checker:
    def __init__(self, run: str, chains: list[_Chain]) -> None:
        self.run = run
        self.chains = chains
        self.by_genesis = {c.genesis.hex(): c for c in chains}
        self.problems: list[LinkProblem] = []
        self.links = 0
        self.delivered: dict[tuple[str, int], tuple[str, int]] = {}  # sender event -> receiver event
        self.lost: set[tuple[str, int]] = set()  # sender events a receiver's end event lists as lost
        self.fast = 0  # messages whose two ends the fast path matched (the tests read it)

    def bad(self, kind: FailureKind, c: _Chain, seq: int | None, other: _Chain | None, other_seq: int | None,
            message: str) -> None:
        self.problems.append(LinkProblem(kind=kind, chain=c.id, seq=seq, other_seq=other_seq, message=message,
                                         other_chain=None if other is None else other.id))

    def target(self, c: _Chain, seq: int | None, link: Any) -> tuple[_Chain, _Ev] | None:
        """The event a link names, or None (reported) when it does not exist as named."""
        self.links += 1
        if not isinstance(link, dict) or not isinstance(link.get("seq"), int):
            self.bad(FailureKind.BROKEN_LINK, c, seq, None, None, f"a malformed link {str(link)[:80]}")
            return None
        other = self.by_genesis.get(str(link.get("chain")))
        if other is None:
            self.bad(FailureKind.BROKEN_LINK, c, seq, None, link["seq"],
                     f"names chain {str(link.get('chain'))[:16]}, which is not a chain of run {self.run}")
            return None
        ev = other.events.get(link["seq"])
        if ev is None:
            self.bad(FailureKind.BROKEN_LINK, c, seq, other, link["seq"],
                     f"names event {link['seq']} of {other.id}, which does not exist or links nothing")
            return None
        if "hash" in link and ev.hash.hex() != link["hash"]:
            self.bad(FailureKind.BROKEN_LINK, c, seq, other, ev.seq,
                     f"names event {ev.seq} of {other.id} with hash {str(link['hash'])[:16]}, "
                     f"but that event's hash is {ev.hash.hex()[:16]}")
            return None
        if "parent" in link and ev.parent.hex() != link["parent"]:
            self.bad(FailureKind.BROKEN_LINK, c, seq, other, ev.seq,
                     f"names event {ev.seq} of {other.id} after {str(link['parent'])[:16]}, "
                     f"but that event follows {ev.parent.hex()[:16]}")
            return None
        return other, ev

    # -- receiver to sender ------------------------------------------------------------

    def check_cause(self, r: _Chain, e: _Ev) -> None:
        cause = e.payload["cause"]
        found = self.target(r, e.seq, cause)
        if found is None:
            return
        s, t = found
        fn = _fn(e.type)
        mismatch = None
        if "hash" in cause:  # a message: t sent it to r
            to = t.payload.get("to")
            sent_to = to.get("chain") if isinstance(to, dict) else None
            if t.type.endswith("#handle-channel-open") and fn == "handle-channel-message":
                accept = (t.payload.get("result") or {}).get("ok")
                first = accept[1][0].get("message") if isinstance(accept, list) and len(accept) > 1 else None
                if _params(e) != [_params(t)[0] if _params(t) else None,
                                  first.get("some") if isinstance(first, dict) else None]:
                    mismatch = "the channel's first message is not what the acceptor's handle-channel-open returned"
            elif sent_to != r.genesis.hex():
                mismatch = f"the sending event was sent to chain {str(sent_to)[:16]}, not to this one"
            elif t.type == END_TYPE:
                want = "handle-child-error" if t.payload.get("outcome") in ("trapped", "error") else "handle-child-exit"
                if fn != want or (_params(e)[:1] != [s.header.get("actor_id")]):
                    mismatch = f"a child's end ({t.payload.get('outcome')}) is delivered to {want} with its id"
            else:
                expected = {"send": ("handle-send", [_arg(t, "msg")]),
                            "send-on-channel": ("handle-channel-message", [_arg(t, "channel-id"), _arg(t, "msg")]),
                            "close-channel": ("handle-channel-close", [_arg(t, "channel-id")])}.get(_fn(t.type))
                if expected is None or expected != (fn, _params(e)):
                    mismatch = (f"the receiver's {fn} got {str(_params(e))[:80]}, the sender's {_fn(t.type)} "
                                f"sent {str(expected[1] if expected else None)[:80]}")
            key = (s.id, t.seq)
            if mismatch is None and key in self.delivered:
                mismatch = f"delivered twice (also at {self.delivered[key][0]} seq {self.delivered[key][1]})"
            self.delivered.setdefault(key, (r.id, e.seq))
        else:  # a nested call (request, open-channel) or a stop, whose event was written after this one
            back = full_link(r.genesis, e.seq, e.hash)
            to, stopped = t.payload.get("to"), t.payload.get("stopped")
            mine = pending_link(s.genesis, t.seq, t.parent)
            answered_elsewhere = False
            if to != back and stopped != back and isinstance(to, dict) and "hash" in to:
                other = self.by_genesis.get(str(to.get("chain")))
                at = to.get("seq")
                ans = r.events.get(at) if other is r and isinstance(at, int) else None
                answered_elsewhere = ans is not None and ans.payload.get("to") == mine
            if to != back and stopped != back and not answered_elsewhere:
                mismatch = f"the event it names ({_fn(t.type)}) does not name it back"
            elif fn == "handle-request":
                rid = derive_id(REQUEST_ID_TAG, s.genesis, t.seq)
                if _params(e) != [rid, _arg(t, "msg")]:
                    mismatch = "the request id or message differs from the asker's request"
                elif to == back:
                    resp = (e.payload.get("result") or {}).get("ok")
                    answer = resp[1][0] if isinstance(resp, list) and len(resp) > 1 else None
                    if isinstance(answer, dict) and t.payload.get("result") != {"ok": answer.get("some")}:
                        mismatch = "the asker's result is not the response the receiver returned"
            elif fn == "handle-channel-open":
                if _params(e) != [derive_id(CHANNEL_ID_TAG, s.genesis, t.seq), _arg(t, "initial-msg")]:
                    mismatch = "the channel id or initial message differs from the opener's open-channel"
            elif e.type == END_TYPE:
                if _fn(t.type) not in ("stop-child", "restart-child"):
                    mismatch = f"a stop names a {_fn(t.type)} event"
            else:
                mismatch = f"{fn} cannot be caused by a {_fn(t.type)} call"
        if mismatch is not None:
            self.bad(FailureKind.BROKEN_LINK, r, e.seq, s, t.seq, mismatch)

    # -- sender to receiver --------------------------------------------------------------

    def check_sent(self, s: _Chain, t: _Ev) -> None:
        to = t.payload.get("to")
        if not isinstance(to, dict):
            return
        fn = _fn(t.type)
        if t.type.startswith("host:") and fn in ("spawn", "resume", "restart-child"):
            self.links += 1
            child = self.by_genesis.get(str(to.get("chain")))
            if child is None:
                self.bad(FailureKind.BROKEN_LINK, s, t.seq, None, None,
                         f"{fn} names child chain {str(to.get('chain'))[:16]}, which is not a chain of the run")
            elif child.header.get("parent") != pending_link(s.genesis, t.seq, t.parent):
                self.bad(FailureKind.BROKEN_LINK, s, t.seq, child, 0,
                         f"the child's header does not name this {fn} as its parent event")
            if fn == "restart-child" and "stopped" in t.payload:
                self._names_me(s, t, t.payload["stopped"])
            return
        if "hash" in to or "parent" in to:  # request, open-channel, stop-child, respond, cancel
            self._names_me(s, t, to)
            return
        if t.type == END_TYPE or "#" + fn in _MESSAGES:
            self.check_delivered(s, t, to)

    def _names_me(self, s: _Chain, t: _Ev, link: Any) -> None:
        found = self.target(s, t.seq, link)
        if found is None:
            return
        r, e = found
        mine = pending_link(s.genesis, t.seq, t.parent)
        if "hash" in link:
            ok = e.payload.get("cause") == mine or e.payload.get("to") == mine
            if not ok:
                self.bad(FailureKind.BROKEN_LINK, s, t.seq, r, e.seq,
                         f"the {_fn(e.type) or 'end'} event it names does not name this {_fn(t.type)} back")
        elif e.payload.get("to") != full_link(s.genesis, t.seq, t.hash):
            self.bad(FailureKind.BROKEN_LINK, s, t.seq, r, e.seq,
                     f"the request it answers does not name this {_fn(t.type)} as its answer")

    def check_delivered(self, s: _Chain, t: _Ev, to: dict[str, Any]) -> None:
        self.links += 1
        r = self.by_genesis.get(str(to.get("chain")))
        if r is None:
            self.bad(FailureKind.BROKEN_LINK, s, t.seq, None, None,
                     f"sent to chain {str(to.get('chain'))[:16]}, which is not a chain of the run")
            return
        key = (s.id, t.seq)
        if key in self.delivered or key in self.lost:
            return
        if not r.complete:
            return  # an interrupted run: the message may still have been waiting
        later = [k for k, (rid, _) in self.delivered.items() if k[0] == s.id and k[1] > t.seq and rid == r.id]
        if later:
            self.bad(FailureKind.BROKEN_LINK, s, t.seq, r, None,
                     f"never delivered, yet a later message of this chain to {r.id} was (seq {min(later)[1]}): "
                     "the delivery was removed")
        else:
            self.bad(FailureKind.UNDELIVERED, s, t.seq, r, None,
                     "sent to a chain that ended without receiving it or recording its loss")

    def check_lost(self, r: _Chain, e: _Ev) -> None:
        for item in e.payload.get("undelivered") or ():
            cause = item.get("cause") if isinstance(item, dict) else None
            found = self.target(r, e.seq, cause)
            if found is not None:
                self.lost.add((found[0].id, found[1].seq))

    def check_header(self, c: _Chain, root: _Chain) -> None:
        if c is root:
            return
        self.links += 1
        if c.header.get("run") != root.genesis.hex():
            self.bad(FailureKind.BROKEN_LINK, c, None, root, None, "the header names another run")
        parent = c.header.get("parent")
        found = self.target(c, None, parent)
        if found is not None and found[1].payload.get("to", {}).get("chain") != c.genesis.hex():
            self.bad(FailureKind.BROKEN_LINK, c, None, found[0], found[1].seq,
                     "the header names a spawn event that spawned another chain")

    def run_checks(self) -> None:
        """Every rule, in order: headers and recorded losses; each received event's
        ``cause``; each sent event's ``to``. A message whose two ends have the plain
        shape (:func:`_fast_fields`) and match is taken by a fast path with the effect
        the general rules would have (a link counted, the delivery noted); anything
        else, a mismatch included, is judged by the general rules, in the same order."""
        root = self.chains[0]
        for c in self.chains:
            self.check_header(c, root)
            for e in c.events.values():
                if e.type == END_TYPE and "undelivered" in e.payload:
                    self.check_lost(c, e)
        by_genesis, delivered = self.by_genesis, self.delivered
        for c in self.chains:
            me = c.genesis.hex()
            for e in c.events.values():
                r = e.recv
                if r is not None:
                    s = by_genesis.get(r[0])
                    t = None if s is None else s.events.get(r[1])
                    sent = None if t is None else t.send
                    if (sent is not None and sent[0] == me and sent[1] == (r[3], r[4])
                            and t.hash.hex() == r[2] and (key := (s.id, t.seq)) not in delivered):  # type: ignore[union-attr]
                        self.links += 1
                        self.fast += 1
                        delivered[key] = (c.id, e.seq)
                        continue
                    self.check_cause(c, e)
                elif e.send is None and "cause" in e.payload:
                    self.check_cause(c, e)
        for c in self.chains:
            for t in c.events.values():
                sd = t.send
                if sd is not None:
                    if (c.id, t.seq) in delivered and sd[0] in by_genesis:
                        self.links += 1
                        continue
                    self.check_sent(c, t)
                elif t.recv is None:
                    self.check_sent(c, t)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a run's links are collected and matched:
    they are tens of thousands of small objects kept to the end, which the collector
    would walk again and again (a third of the time) and never free; reference
    counting frees everything as usual. Restored after, whatever happens."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def verify_run(store: Store, run: RunInfo | str) -> RunVerifyResult:
    """Verify every chain of ``run`` (an id, a unique prefix, ``last`` or a
    :class:`RunInfo`) and every link between them."""
    return _verify_run(store, run, fast=True)


def _verify_run(store: Store, run: RunInfo | str, *, fast: bool) -> RunVerifyResult:
    """:func:`verify_run`; ``fast=False`` judges every link by the general rules (the
    tests compare both on forged runs)."""
    info = run if isinstance(run, RunInfo) else resolve_run(store, run)
    with _collector_paused():
        chains = [_collect(store, c.chain, fast=fast) for c in info.chains if store.chain_exists(c.chain)]
        checker = _Checker(info.id, chains)
        missing = [c.chain for c in info.chains if not store.chain_exists(c.chain)]
        if chains:
            checker.run_checks()
        for m in missing:
            checker.problems.append(LinkProblem(kind=FailureKind.BROKEN_LINK, chain=m, seq=None, other_chain=None,
                                                other_seq=None, message="a chain of the run is missing"))
        result = RunVerifyResult(run=info.id, chains=tuple(c.result for c in chains),
                                 problems=tuple(checker.problems), links=checker.links)
        # freed while the collector is off: alive when it is back on, the kept events would
        # all be walked by its next collection (the pause would only defer that cost)
        del chains, checker
    return result


def follow_links(store: Store, chain_id: str, seq: int) -> list[tuple[str, int | None]]:
    """The other ends of the links of event ``seq`` of ``chain_id``, as (chain id, seq)
    (seq None: a whole chain, e.g. a spawned child), for a browser that follows a link
    to the other chain and back. Reads the run's headers only, not its events."""
    from theater.store.runs import run_of

    ev = store.event(chain_id, seq)
    entry = run_of(store).get(chain_id)
    if ev is None or entry is None:
        return []
    payload = ev.payload()
    if not isinstance(payload, dict):
        return []
    members = [c for c in resolve_run(store, entry.run).chains]
    by_genesis = {genesis_hash(bytes(store.chain(c.chain).header)).hex(): c.chain for c in members}
    out: list[tuple[str, int | None]] = []
    for key in ("cause", "to", "stopped"):
        link = payload.get(key)
        if isinstance(link, dict) and str(link.get("chain")) in by_genesis:
            seq_ = link.get("seq")
            out.append((by_genesis[str(link["chain"])], seq_ if isinstance(seq_, int) else None))
    for item in payload.get("undelivered") or ():
        link = item.get("cause") if isinstance(item, dict) else None
        if isinstance(link, dict) and str(link.get("chain")) in by_genesis:
            out.append((by_genesis[str(link["chain"])], link.get("seq")))
    return out
