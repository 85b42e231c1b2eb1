"""``theater:simple/message-server-host`` served by the run: send, request (nested),
channels, deferred answers; each sending event gets its ``to`` link."""

from __future__ import annotations

from typing import Any

from ..convention import MESSAGES
from ..links import (
    CHANNEL_ID_TAG,
    REQUEST_ID_TAG,
    TO,
    derive_id,
    full_link,
    pending_link,
)
from ..outcomes import EndOutcome
from .model import (
    Actor,
    Delivery,
    Waiting,
    _err_tagged,
    _ok,
)
from .scheduler import Scheduler


class Messaging(Scheduler):
    """The message-server host functions (``fn(actor, *args)``, called by
    theater/handlers/message_server.py)."""

    # -- theater:simple/message-server-host -------------------------------------

    def send(self, a: Actor, ref: str, msg: bytes) -> Any:
        to = self._target(a, ref, nested=False)
        if isinstance(to, str):
            return to
        if not to.exports(MESSAGES, "handle-send"):
            return f"actor {to.label()} does not export {MESSAGES}#handle-send"
        seq = a.lw.length
        refused = self._enqueue(to, Delivery(order=0, kind="send", sender=a, seq=seq, payload=msg))
        if refused is not None:
            return refused
        a.want(seq)
        a.boundary.annotation = {TO: to.to_ref()}
        return None

    def request(self, a: Actor, ref: str, msg: bytes) -> Any:
        to = self._target(a, ref, nested=True)
        if isinstance(to, str):
            return to
        if not to.exports(MESSAGES, "handle-request"):
            return f"actor {to.label()} does not export {MESSAGES}#handle-request"
        seq, parent = a.lw.length, a.writer.head
        rid = derive_id(REQUEST_ID_TAG, a.genesis, seq)
        self._drain_from(to, a)
        if to.done or self.stopped_by is not None:
            return self.stopped_by or f"actor {to.label()} has ended ({to.outcome})"
        if not self._count():
            return self.stopped_by
        response = self._call(to, "handle-request", (to.state, (rid, msg)), pending_link(a.genesis, seq, parent))
        answered = self.last_call
        if to.done and to.outcome in (EndOutcome.TRAPPED, EndOutcome.ERROR):
            a.boundary.annotation = {TO: answered}
            return f"actor {to.label()} failed handling the request: {to.error}"
        if response is not None:
            a.boundary.annotation = {TO: answered}
            return bytes(response)
        w = Waiting(asker=a, receiver=to, seq=seq, parent=parent)
        self.waiting[rid] = w
        to.deferred[rid] = w
        self.drain(until=lambda: w.settled)
        self.waiting.pop(rid, None)
        to.deferred.pop(rid, None)
        if not w.settled:
            return self.stopped_by or f"request {rid} to {to.label()} was never answered"
        ans_seq, by = w.answer if w.answer is not None else (-1, to)
        if ans_seq >= 0:
            a.boundary.annotation = {TO: full_link(by.genesis, ans_seq, by.link_hash(ans_seq))}
        if w.error is not None:
            return w.error
        return w.response if w.response is not None else b""

    def open_channel(self, a: Actor, ref: str, msg: bytes) -> Any:
        to = self._target(a, ref, nested=True)
        if isinstance(to, str):
            return _err_tagged(to)
        if not to.exports(MESSAGES, "handle-channel-open"):
            return _err_tagged(f"actor {to.label()} does not export {MESSAGES}#handle-channel-open")
        seq, parent = a.lw.length, a.writer.head
        cid = derive_id(CHANNEL_ID_TAG, a.genesis, seq)
        self._drain_from(to, a)
        if to.done or not self._count():
            return _err_tagged(self.stopped_by or f"actor {to.label()} has ended ({to.outcome})")
        accept = self._call(to, "handle-channel-open", (to.state, (cid, msg)), pending_link(a.genesis, seq, parent))
        opened = self.last_call
        a.boundary.annotation = {TO: opened}
        if accept is None:
            return _err_tagged(f"actor {to.label()} failed opening the channel: {to.error}")
        if not getattr(accept, "accepted", False):
            return _err_tagged(f"actor {to.label()} refused the channel")
        self.channels[cid] = [a, to, True]
        first = getattr(accept, "message", None)
        if first is not None and a.exports(MESSAGES, "handle-channel-message"):
            # the acceptor's first message: sent by its handle-channel-open event
            seq_b = int(opened["seq"])
            to.lw.hashes[seq_b] = bytes.fromhex(opened["hash"])
            self._enqueue(a, Delivery(order=0, kind="channel-message", sender=to, seq=seq_b, payload=bytes(first),
                                      channel=cid))
        return _ok(cid)

    def _channel_peer(self, a: Actor, cid: str) -> Actor | str:
        ch = self.channels.get(cid)
        if ch is None:
            return f"no channel {cid!r}"
        if not ch[2]:
            return f"channel {cid} is closed"
        if a is not ch[0] and a is not ch[1]:
            return f"channel {cid} is not one of {a.label()}'s"
        peer: Actor = ch[1] if a is ch[0] else ch[0]
        return peer

    def send_on_channel(self, a: Actor, cid: str, msg: bytes) -> Any:
        peer = self._channel_peer(a, cid)
        if isinstance(peer, str):
            return peer
        if not peer.exports(MESSAGES, "handle-channel-message"):
            return f"actor {peer.label()} does not export {MESSAGES}#handle-channel-message"
        seq = a.lw.length
        refused = self._enqueue(peer, Delivery(order=0, kind="channel-message", sender=a, seq=seq, payload=msg,
                                               channel=cid))
        if refused is not None:
            return refused
        a.want(seq)
        a.boundary.annotation = {TO: peer.to_ref()}
        return None

    def close_channel(self, a: Actor, cid: str) -> Any:
        peer = self._channel_peer(a, cid)
        if isinstance(peer, str):
            return peer
        self.channels[cid][2] = False
        if not peer.exports(MESSAGES, "handle-channel-close") or peer.done:
            return None
        seq = a.lw.length
        if self._enqueue(peer, Delivery(order=0, kind="channel-close", sender=a, seq=seq, channel=cid)) is None:
            a.want(seq)
            a.boundary.annotation = {TO: peer.to_ref()}
        return None

    def list_outstanding_requests(self, a: Actor) -> Any:
        return [rid for rid, w in a.deferred.items() if not w.settled]

    def _settle(self, a: Actor, rid: str, response: bytes | None, error: str | None) -> Any:
        w = a.deferred.get(rid)
        if w is None or w.settled:
            return f"no outstanding request {rid!r}"
        seq = a.lw.length
        a.want(seq)
        w.response, w.error, w.answer = response, error, (seq, a)
        a.boundary.annotation = {TO: pending_link(w.asker.genesis, w.seq, w.parent)}
        return None

    def respond_to_request(self, a: Actor, rid: str, response: bytes) -> Any:
        return self._settle(a, rid, bytes(response), None)

    def cancel_request(self, a: Actor, rid: str) -> Any:
        return self._settle(a, rid, None, f"request {rid} was cancelled by {a.label()}")
