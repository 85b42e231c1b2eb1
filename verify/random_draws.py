"""Seed audit: every recorded random value is the one the header's seed gives.

The random handler serves ``wasi:random/random``, ``wasi:random/insecure`` and
``wasi:random/insecure-seed`` (any 0.2.x version) from one ChaCha20 stream seeded
with ``seed_from_u64(header["seed"])``. Replaying that stream over the recorded call
sequence must give exactly the recorded results:

    #get-random-bytes / #get-insecure-random-bytes   {"args":{"len":N},"result":"base64:..."}  fill_bytes(N)
    #get-random-u64 / #get-insecure-random-u64       {"args":{},"result":u64}                  next_u64()
    #insecure-seed                                   {"args":{},"result":[a, b]}               two next_u64()

An event with ``"trap"`` instead of ``"result"`` (a refused request) drew nothing.
Since the stream is regenerated, not read from the chain, a doctored value is caught
even when the whole chain was re-hashed after it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson

from theater.canonical import decode_tagged_bytes

from .results import FailureKind, Problem

_TYPE = re.compile(
    r"^host:wasi:random/(random|insecure|insecure-seed)@(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?#(.*)$"
)
_FUNCTIONS = {
    "random": {"get-random-bytes": "bytes", "get-random-u64": "u64"},
    "insecure": {"get-insecure-random-bytes": "bytes", "get-insecure-random-u64": "u64"},
    "insecure-seed": {"insecure-seed": "seed"},
}
_U64 = (1 << 64) - 1
SHOW = 32  # bytes of a value shown in a report


def header_seed(header: bytes) -> int | None:
    """The u64 seed recorded in a v1 header (None when absent or not a u64)."""
    try:
        obj = orjson.loads(header)
    except orjson.JSONDecodeError:
        return None
    seed = obj.get("seed") if isinstance(obj, dict) else None
    return seed if type(seed) is int and 0 <= seed <= _U64 else None


def _show(b: bytes, start: int) -> str:
    lo = max(0, start - SHOW // 2)
    part = b[lo : lo + SHOW].hex()
    return f"{'...' if lo else ''}{part}{'...' if lo + SHOW < len(b) else ''} ({len(b)} bytes)"


class RandomAudit:
    """Feed it each verified event in order (``feed``); ``problem`` holds the first mismatch."""

    def __init__(self, header: bytes) -> None:
        self.header = header
        self.rng: Any = None
        self.checked = 0
        self.problem: Problem | None = None

    def _stream(self, seq: int) -> Any:
        if self.rng is None:
            seed = header_seed(self.header)
            if seed is None:
                self.problem = Problem(
                    kind=FailureKind.MALFORMED, seq=seq,
                    message="the chain has random events but its header has no u64 seed to audit them with",
                )
                return None
            from theater.rng import ChaCha20Rng  # here: cryptography loads only when a chain is audited

            self.rng = ChaCha20Rng.seed_from_u64(seed)
        return self.rng

    def _fail(self, kind: FailureKind, seq: int, msg: str, exp: str | None = None, got: str | None = None) -> None:
        self.problem = Problem(kind=kind, seq=seq, message=msg, expected=exp, computed=got)

    def feed(self, seq: int, hash_: bytes, type_: str, data: bytes) -> None:
        if self.problem is not None or not type_.startswith("host:wasi:random/"):
            return
        m = _TYPE.match(type_)
        kind = None if m is None else _FUNCTIONS[m.group(1)].get(m.group(5))
        if m is None or kind is None or (m.group(2), m.group(3)) != ("0", "2"):
            return self._fail(FailureKind.MALFORMED, seq, f"{type_}: not a wasi:random 0.2.x function the audit knows")
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("args"), dict) or (
            ("result" in body) == ("trap" in body)
        ):
            return self._fail(FailureKind.MALFORMED, seq, f"{type_}: data is not {{args, result | trap}}")
        if "trap" in body:
            return  # refused: the stream was not drawn from
        rng = self._stream(seq)
        if rng is None:
            return
        result = body["result"]
        if kind == "bytes":
            n = body["args"].get("len")
            if type(n) is not int or not 0 <= n <= _U64:
                return self._fail(FailureKind.MALFORMED, seq, f"{type_}: args.len is not a u64")
            got = decode_tagged_bytes(result)
            if got is None:
                return self._fail(FailureKind.MALFORMED, seq, f"{type_}: result is not base64 bytes")
            if len(got) != n:  # (also bounds the draw by the bytes actually stored)
                return self._fail(FailureKind.RANDOM_MISMATCH, seq,
                                  f"{type_}: {len(got)} bytes recorded for len {n}", str(n), str(len(got)))
            want = rng.fill_bytes(n)
            self.checked += 1
            if got != want:
                at = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), len(got))
                return self._fail(
                    FailureKind.RANDOM_MISMATCH, seq,
                    f"{type_}(len={n}): recorded bytes differ from the seeded stream at byte {at}",
                    _show(want, at), _show(got, at),
                )
        elif kind == "u64":
            want_u = rng.next_u64()
            self.checked += 1
            if result != want_u or type(result) is not int:
                return self._fail(FailureKind.RANDOM_MISMATCH, seq,
                                  f"{type_}: recorded value is not the seeded stream's next u64",
                                  str(want_u), repr(result))
        else:
            pair = [rng.next_u64(), rng.next_u64()]
            self.checked += 1
            if not isinstance(result, list) or result != pair or any(type(x) is not int for x in result):
                return self._fail(FailureKind.RANDOM_MISMATCH, seq,
                                  f"{type_}: recorded pair is not the seeded stream's next two u64",
                                  repr(pair), repr(result))


def audit_draws(header: bytes, rows: Iterable[tuple[Any, ...]]) -> tuple[Problem | None, int]:
    """Audit the random draws in rows directly; returns (first problem, draws checked).

    Rows are the verifier's ``(seq, hash, parent, type, data, ...)``; integrity is not
    checked here (``theater verify --audit-random`` runs both in one pass).
    """
    audit = RandomAudit(header)
    for row in rows:
        audit.feed(row[0], row[1], row[3], row[4])
        if audit.problem is not None:
            break
    return audit.problem, audit.checked
