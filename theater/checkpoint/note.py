"""The signed note: a checkpoint's text, its signature lines, and checking them.

The text follows c2sp.org/tlog-checkpoint over c2sp.org/signed-note (see
:mod:`theater.checkpoint`). The signature covers the text up to and including the
head line's newline.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass

from ..errors import BadSignature, CheckpointError
from .keys import MAX_NOTE_BYTES, PrivateKey, PublicKey, _b64decode, _read_text, check_key_name

ORIGIN_PREFIX = "theater/"
EM_DASH = "\u2014"
MAX_SIGNATURES = 100
_SIZE_RE = re.compile(r"^(0|[1-9][0-9]{0,19})$")


@dataclass(frozen=True)
class Signature:
    """One signature line: key name, 4-byte key id, signature bytes."""

    name: str
    key_id: bytes
    sig: bytes

    def line(self) -> str:
        return f"{EM_DASH} {self.name} {base64.b64encode(self.key_id + self.sig).decode()}\n"


@dataclass(frozen=True)
class Checkpoint:
    """A parsed checkpoint. ``text`` is the note exactly as signed and stored."""

    origin: str
    size: int
    head: bytes
    extra: tuple[str, ...]
    signatures: tuple[Signature, ...]
    text: str

    @property
    def chain(self) -> str | None:
        """The chain id named by the origin, or None for a foreign origin."""
        return self.origin[len(ORIGIN_PREFIX):] if self.origin.startswith(ORIGIN_PREFIX) else None

    @property
    def body(self) -> str:
        """The signed text: origin, size, head (and extension lines), newline-terminated."""
        return self.text[: self.text.rindex("\n\n") + 1]

    def key_ids(self) -> list[str]:
        return [s.key_id.hex() for s in self.signatures]


def checkpoint_body(chain_id: str, size: int, head: bytes) -> str:
    """The text a checkpoint signs."""
    if size < 0:
        raise ValueError("size must be >= 0")
    return f"{ORIGIN_PREFIX}{chain_id}\n{size}\n{base64.b64encode(head).decode()}\n"


def sign_note(body: str, keys: list[PrivateKey]) -> str:
    """Sign ``body`` (newline-terminated) with each key; returns the whole note."""
    if not body.endswith("\n") or "\n\n" in body:
        raise ValueError("a note body is non-empty lines, each ending in a newline")
    msg = body.encode()
    sigs = [Signature(k.name, k.public().id, k.sign(msg)) for k in keys]
    return body + "\n" + "".join(s.line() for s in sigs)


def parse_note(text: str) -> tuple[str, tuple[Signature, ...]]:
    """Split a signed note into its signed text and signature lines (not verified)."""
    if len(text.encode()) > MAX_NOTE_BYTES:
        raise CheckpointError("note is too large")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise CheckpointError("note contains control characters")
    split = text.rfind("\n\n")
    if split < 0 or not text.endswith("\n"):
        raise CheckpointError("not a signed note (no blank line before the signatures)")
    body, sig_text = text[: split + 1], text[split + 2 :]
    sig_lines = sig_text[:-1].split("\n")
    if len(sig_lines) > MAX_SIGNATURES:
        raise CheckpointError(f"more than {MAX_SIGNATURES} signatures")
    sigs = []
    for line in sig_lines:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != EM_DASH:
            raise CheckpointError(f"bad signature line {line[:60]!r}")
        name = check_key_name(parts[1])
        raw = _b64decode(parts[2], "a signature")
        if len(raw) < 5:
            raise CheckpointError("a signature is too short")
        sigs.append(Signature(name, raw[:4], raw[4:]))
    return body, tuple(sigs)


def open_note(text: str, keys: list[PublicKey]) -> list[PublicKey]:
    """The known keys whose signatures of the note verify (signed-note rules).

    Signatures by unknown keys are ignored. A signature by a known key (same name and
    key id) that does not verify raises :class:`BadSignature`, and so does a note
    without any signature by a known key.
    """
    body, sigs = parse_note(text)
    known = {(k.name, k.id): k for k in keys}
    msg = body.encode()
    ok: list[PublicKey] = []
    for s in sigs:
        k = known.get((s.name, s.key_id))
        if k is None:
            continue
        if len(s.sig) != 64 or not k.verify(msg, s.sig):
            raise BadSignature(f"the signature by key {k.name} ({k.id.hex()}) does not verify")
        if k not in ok:
            ok.append(k)
    if not ok:
        names = ", ".join(f"{s.name} ({s.key_id.hex()})" for s in sigs)
        raise BadSignature(f"no signature by a known key (signed by: {names or 'nobody'})")
    return ok


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint note (signatures are not checked here: see :func:`open_checkpoint`)."""
    body, sigs = parse_note(text)
    lines = body[:-1].split("\n")
    if len(lines) < 3 or not lines[0] or any(not line for line in lines):
        raise CheckpointError("a checkpoint body is origin, size and head lines")
    origin, size_text, head_text, *extra = lines
    if not _SIZE_RE.match(size_text) or int(size_text) >= 1 << 63:
        raise CheckpointError(f"checkpoint size {size_text[:30]!r} is not a decimal number")
    head = _b64decode(head_text, "the checkpoint head")
    if len(head) not in (20, 32):
        raise CheckpointError(f"the checkpoint head is {len(head)} bytes, not a chain hash")
    return Checkpoint(origin, int(size_text), head, tuple(extra), sigs, text)


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and parse a checkpoint text file."""
    text = _read_text(path, "checkpoint")
    try:
        return parse_checkpoint(text)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None


def open_checkpoint(cp: Checkpoint, keys: list[PublicKey]) -> list[PublicKey]:
    """The known keys that signed ``cp`` (see :func:`open_note`; raises :class:`BadSignature`)."""
    return open_note(cp.text, keys)
