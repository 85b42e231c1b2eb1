"""The values of a run: its limits, inputs and results, and the state the scheduler
keeps per actor (theater/system/scheduler.py)."""

from __future__ import annotations

import functools
import struct
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import wasmtime.component as wc

from ..boundary import Boundary
from ..handlers import Handler
from ..handlers.runtime import RuntimeHandler
from ..links import (
    full_link,
)
from ..manifest import Manifest
from ..outcomes import EndOutcome
from ..runtime import (
    ActorInstance,
)
from ..store import ChainWriter, Store

#: the handler types that make a manifest's actor part of a system
SYSTEM_HANDLERS = ("message-server", "supervisor")
SEED_TAG = b"theater/seed/v1"
_Q = struct.Struct(">Q")


def is_system(manifest: Manifest) -> bool:
    """Whether the manifest grants the message-server or the supervisor."""
    return any(h.type in SYSTEM_HANDLERS for h in manifest.handlers)


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Run-level limits, from the root manifest's ``[limits]`` (defaults beside)."""

    messages: int = 100_000  # messages delivered (export calls caused by another actor)
    actors: int = 64  # actors started, restarts included
    mailbox: int = 10_000  # messages waiting for one actor
    depth: int = 32  # nested requests (A asks B asks C ...)

    @classmethod
    def from_manifest(cls, manifest: Manifest) -> Limits:
        from ..errors import ManifestError

        raw = manifest.raw.get("limits", {})
        values: dict[str, int] = {}
        for key in ("messages", "actors", "mailbox", "depth"):
            v = raw.get(key) if isinstance(raw, dict) else None
            if v is None:
                continue
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ManifestError(f"{manifest.path} [limits]: `{key}` must be a positive integer, got {v!r}")
            values[key] = v
        return cls(**values)

    def to_json(self) -> dict[str, int]:
        return {"messages": self.messages, "actors": self.actors, "mailbox": self.mailbox, "depth": self.depth}


@dataclass(frozen=True)
class RunInput:
    """One CLI input: ``send`` or ``request`` with its payload, to the root or ``to``
    (an actor's name or id)."""

    kind: str
    payload: bytes
    to: str | None = None


@dataclass(frozen=True, kw_only=True)
class ChainSummary:
    """One chain of a finished run."""

    chain: str
    actor: str
    actor_id: str
    events: int
    head: bytes
    outcome: EndOutcome | None  # None: left incomplete

    def to_json(self) -> dict[str, Any]:
        return {"chain": self.chain, "actor": self.actor, "actor_id": self.actor_id, "events": self.events,
                "head": self.head.hex(), "outcome": self.outcome}


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """The outcome of a recorded run: the root chain's figures (as a single recording
    gives them), every chain of the run, and why the run stopped if a limit did it."""

    run: str
    chain: str
    events: int
    head: bytes
    outcome: EndOutcome
    chains: tuple[ChainSummary, ...]
    error: str | None = None
    state: bytes | None = None
    responses: tuple[bytes | None, ...] = ()
    stopped_by: str | None = None

    @property
    def ok(self) -> bool:
        """The root ended as meant (completed or stopped by request) and no limit stopped the run."""
        return self.outcome.ok and self.stopped_by is None

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run, "chain": self.chain, "events": self.events, "head": self.head.hex(),
                "outcome": self.outcome, "error": self.error, "stopped_by": self.stopped_by,
                "chains": [c.to_json() for c in self.chains]}


class LinkWriter:
    """An actor's chain writer that keeps the hashes of the events a link waits for
    (a message's cause is the sending event, appended just after the live call)."""

    __slots__ = ("inner", "builder", "wanted", "hashes")

    def __init__(self, inner: ChainWriter) -> None:
        self.inner = inner
        self.builder = inner.builder
        self.wanted: set[int] = set()
        self.hashes: dict[int, bytes] = {}

    @property
    def length(self) -> int:
        return self.builder.seq

    def append(self, type_: str, data: bytes) -> bytes:
        h = self.inner.append(type_, data)
        if self.wanted:
            seq = self.builder.seq - 1
            if seq in self.wanted:
                self.wanted.discard(seq)
                self.hashes[seq] = h
        return h


@dataclass
class Delivery:
    """A message waiting in a mailbox. ``sender``/``seq``: the event that sent it (its
    hash is read when it is delivered, the event being written by then)."""

    order: int
    kind: str  # send, channel-message, channel-close, child-error, child-exit
    sender: Actor
    seq: int
    payload: Any = None
    channel: str | None = None

    def cause(self) -> dict[str, Any]:
        h = self.sender.link_hash(self.seq)
        return {"chain": self.sender.genesis_hex, "seq": self.seq, "hash": h.hex()}  # links.full_link


@dataclass
class Waiting:
    """A request whose answer was deferred: settled by respond-to-request or cancel-request."""

    asker: Actor
    receiver: Actor
    seq: int
    parent: bytes
    response: bytes | None = None
    error: str | None = None
    answer: tuple[int, Actor] | None = None  # the receiver's event that settled it

    @property
    def settled(self) -> bool:
        return self.answer is not None


@dataclass
class Prepared:
    """An actor checked and loaded, before its chain exists."""

    manifest: Manifest
    handlers: list[Handler]
    sha: str
    data: bytes
    component: Any
    plan: Any
    exports: dict[str, Any]
    runtime: RuntimeHandler | None
    seed: int | None


@dataclass(eq=False)
class Actor:
    """One incarnation of an actor: its chain and its live instance."""

    id: str
    prepared: Prepared
    writer: ChainWriter
    lw: LinkWriter
    genesis: bytes
    boundary: Boundary
    parent: Actor | None
    init_state: bytes | None
    store: Store
    instance: ActorInstance | None = None
    state: bytes | None = None
    mailbox: deque[Delivery] = field(default_factory=deque)
    busy: bool = False
    done: bool = False
    outcome: EndOutcome | None = None
    error: str | None = None
    children: list[str] = field(default_factory=list)
    deferred: dict[str, Waiting] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.prepared.manifest.name

    @functools.cached_property
    def genesis_hex(self) -> str:
        """The chain's id as links name it (computed once: every message names it)."""
        return self.genesis.hex()

    def to_ref(self) -> dict[str, Any]:
        """The ``to`` of an event that sends to this actor (theater/links.py)."""
        return {"chain": self.genesis_hex, "actor": self.id}

    def exports(self, interface: str, function: str) -> bool:
        return function in getattr(self.prepared.exports.get(interface), "funcs", {})

    def want(self, seq: int) -> None:
        self.lw.wanted.add(seq)

    def link_hash(self, seq: int) -> bytes:
        """The hash of this chain's event ``seq`` (written by now)."""
        h = self.lw.hashes.pop(seq, None)
        if h is not None:
            return h
        if seq == self.lw.length - 1:
            return self.writer.head
        self.writer.flush()
        ev = self.store.event(self.writer.chain_id, seq)
        return b"\0" * 32 if ev is None else ev.hash

    def head_link(self) -> dict[str, Any]:
        """A full link to this actor's last written event."""
        return full_link(self.genesis, self.lw.length - 1, self.writer.head)

    def head(self) -> tuple[Actor, int, bytes]:
        """What :meth:`head_link` links to, without building the link."""
        return self, self.lw.length - 1, self.writer.head

    def label(self) -> str:
        return f"{self.name} ({self.id})"


def _ok(value: Any) -> Any:
    return wc.Variant("ok", value)


def _err_tagged(message: str) -> Any:
    return wc.Variant("err", message)
