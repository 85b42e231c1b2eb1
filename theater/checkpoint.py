"""Signed checkpoints: ``(chain, size, head)`` as a C2SP-style signed note (Ed25519).

A checkpoint says "chain C had ``size`` events and the hash of event ``size - 1``
was ``head``", signed by a key. A hash chain alone cannot show that its tail was cut
off or that it was rewritten and re-hashed from the start; a checkpoint held
elsewhere can. The text follows c2sp.org/tlog-checkpoint over c2sp.org/signed-note::

    theater/<chain id>\\n               origin
    <size>\\n                           decimal, no leading zeros
    <base64(head)>\\n                   standard base64 of the head hash
    \\n                                 blank line
    — <key name> <base64(key id || signature)>\\n    one or more

The signature covers the text up to and including the head line's newline. The key
id is the first 4 bytes of SHA-256(key name || 0x0A || 0x01 || public key), as in
signed-note (0x01 is the Ed25519 signature type). For size 0 the head is the chain's
genesis hash. Key files use the signed-note (Go ``sumdb/note``) encodings:

    public   <name>+<key id hex>+<base64(0x01 || public key)>
    private  PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || private seed)>

``cryptography`` is imported only inside the functions that sign or verify.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UsageError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from .store import Store

ORIGIN_PREFIX = "theater/"
SIG_ED25519 = 0x01
EM_DASH = "\u2014"
MAX_SIGNATURES = 100
MAX_NOTE_BYTES = 1 << 16
_SIZE_RE = re.compile(r"^(0|[1-9][0-9]{0,19})$")


class CheckpointError(UsageError):
    """A key file or checkpoint text that cannot be read (malformed input)."""


class BadSignature(Exception):
    """A checkpoint signature by a known key that does not verify, or no known signature."""


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise CheckpointError(f"{what} is not standard base64") from None


def check_key_name(name: str) -> str:
    """A signed-note key name: non-empty, no white space, no ``+``."""
    if not name or "+" in name or any(c.isspace() for c in name) or any(ord(c) < 0x20 for c in name):
        raise CheckpointError(f"bad key name {name!r} (non-empty, no spaces, no '+')")
    return name


def key_id(name: str, public: bytes) -> bytes:
    """The 4-byte signed-note key id of an Ed25519 key."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([SIG_ED25519]) + public).digest()[:4]


@dataclass(frozen=True)
class PublicKey:
    """A verifier key: its name, 4-byte id and 32-byte Ed25519 public key."""

    name: str
    id: bytes
    key: bytes

    def encode(self) -> str:
        """The signed-note verifier key text."""
        raw = base64.b64encode(bytes([SIG_ED25519]) + self.key).decode()
        return f"{self.name}+{self.id.hex()}+{raw}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is this key's Ed25519 signature of ``message``."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            Ed25519PublicKey.from_public_bytes(self.key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class PrivateKey:
    """A signer key: its name and 32-byte Ed25519 private seed. Never printed."""

    name: str
    seed: bytes

    def __repr__(self) -> str:
        return f"PrivateKey(name={self.name!r}, id={self.public().id.hex()})"

    def _key(self) -> Ed25519PrivateKey:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return Ed25519PrivateKey.from_private_bytes(self.seed)

    def public(self) -> PublicKey:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        pub = self._key().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return PublicKey(self.name, key_id(self.name, pub), pub)

    def sign(self, message: bytes) -> bytes:
        return bytes(self._key().sign(message))

    def encode(self) -> str:
        raw = base64.b64encode(bytes([SIG_ED25519]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.public().id.hex()}+{raw}"


def generate_key(name: str = "theater") -> PrivateKey:
    """A new random Ed25519 signer key named ``name``."""
    check_key_name(name)
    return PrivateKey(name, os.urandom(32))


def _parse_key_text(text: str, private: bool, where: str) -> tuple[str, bytes, bytes]:
    kind = "private" if private else "public"
    # base64 may contain '+': split off only the fields before it
    parts = text.strip().split("+", 4 if private else 2)
    if private:
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise CheckpointError(f"{where} is not a theater private key file (see `theater keygen`)")
        parts = parts[2:]
    elif len(parts) != 3 or parts[0] == "PRIVATE":
        raise CheckpointError(f"{where} is not a public key file (name+id+key; see `theater keygen`)")
    name, hex_id, raw_b64 = parts
    try:
        check_key_name(name)
    except CheckpointError:
        raise CheckpointError(f"{where} is not a {kind} key file (bad key name)") from None
    raw = _b64decode(raw_b64, f"the key in {where}")
    if len(raw) != 33 or raw[0] != SIG_ED25519:
        raise CheckpointError(f"{where} does not hold an Ed25519 key")
    try:
        kid = bytes.fromhex(hex_id)
    except ValueError:
        raise CheckpointError(f"{where}: key id {hex_id!r} is not hex") from None
    return name, kid, raw[1:]


def parse_public_key(text: str, where: str = "the public key") -> PublicKey:
    """A signed-note verifier key ``<name>+<key id hex>+<base64(0x01 || key)>``."""
    name, kid, pub = _parse_key_text(text, False, where)
    if key_id(name, pub) != kid:
        raise CheckpointError(f"{where}: the key id does not match the key (damaged?)")
    return PublicKey(name, kid, pub)


def parse_private_key(text: str, where: str = "the private key") -> PrivateKey:
    """A signer key ``PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || seed)>``."""
    name, kid, seed = _parse_key_text(text, True, where)
    key = PrivateKey(name, seed)
    if key.public().id != kid:
        raise CheckpointError(f"{where}: the key id does not match the key (damaged?)")
    return key


def load_public_key(path: str | os.PathLike[str]) -> PublicKey:
    """Read a public key file (a private key file gives its public half)."""
    text = _read_text(path, "key")
    if text.startswith("PRIVATE+KEY+"):
        return parse_private_key(text, str(path)).public()
    return parse_public_key(text, str(path))


def load_private_key(path: str | os.PathLike[str]) -> PrivateKey:
    """Read a private key file written by :func:`write_key_pair`.

    Like ssh, a key file that group or others may read is refused: a signing key
    someone else could have copied is no evidence of who signed.
    """
    try:
        with open(path, "rb") as f:
            mode = stat.S_IMODE(os.fstat(f.fileno()).st_mode)  # the file read, not a name
            if mode & 0o077:
                raise UsageError(f"permissions {mode:04o} for {path} are too open: a private key must be "
                                 f"readable by its owner only (chmod 600 {path})")
            data = f.read(MAX_NOTE_BYTES + 1)
    except OSError as e:
        raise UsageError(f"cannot read key file {path}: {e.strerror}") from e
    return parse_private_key(_decode_text(data, path, "key"), str(path))


def write_key_pair(prefix: str | os.PathLike[str], key: PrivateKey, *, force: bool = False) -> tuple[Path, Path]:
    """Write ``PREFIX.key`` (mode 0600) and ``PREFIX.pub``; returns both paths.

    Each file is written whole to a new temporary file beside it (``O_CREAT|O_EXCL|
    O_NOFOLLOW``, the final mode from the start) and then put in place: linked, which
    fails on any existing name (a dangling symlink too), or with ``force`` renamed
    over it, which replaces a symlink itself and never writes through it. A write that
    fails removes its temporary file: no 0-byte or partial key is left.
    """
    priv, pub = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    if not force:
        for p in (priv, pub):
            if os.path.lexists(p):
                raise UsageError(f"{p} exists; not overwriting a key (use --force or another --out)")
    _write_new(priv, (key.encode() + "\n").encode(), 0o600, force)
    try:
        _write_new(pub, (key.public().encode() + "\n").encode(), 0o644, force)
    except UsageError:
        if not force:  # the private key was new: leave no half of a pair
            priv.unlink(missing_ok=True)
        raise
    return priv, pub


def _write_new(path: Path, data: bytes, mode: int, replace: bool) -> None:
    """Put ``data`` at ``path`` through a temporary file (see :func:`write_key_pair`)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except OSError as e:
        raise UsageError(f"cannot write key file {path}: {e.strerror}") from e
    try:
        try:
            os.fchmod(fd, mode)  # whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, path)  # rename(2) replaces the name, a symlink included
        else:
            os.link(tmp, path)  # fails if the name exists in any form
            os.unlink(tmp)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if e.errno == errno.EEXIST:
            raise UsageError(f"{path} exists; not overwriting a key (use --force or another --out)") from e
        raise UsageError(f"cannot write key file {path}: {e.strerror}") from e


def _read_text(path: str | os.PathLike[str], what: str) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read {what} file {path}: {e.strerror}") from e
    return _decode_text(data, path, what)


def _decode_text(data: bytes, path: str | os.PathLike[str], what: str) -> str:
    if len(data) > MAX_NOTE_BYTES:
        raise CheckpointError(f"{path} is too large to be a {what} file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CheckpointError(f"{path} is not UTF-8 text") from None


# -- the note ------------------------------------------------------------------


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


# -- stored checkpoints ----------------------------------------------------------


def store_checkpoint(store: Store, cp: Checkpoint) -> int:
    """Insert a checkpoint into the ``checkpoints`` table; returns its row id."""
    if cp.chain is None:
        raise UsageError(f"checkpoint origin {cp.origin!r} does not name a theater chain")
    store.check_writable()  # no trigger theater did not create may see the insert
    cur = store.conn.execute(
        "INSERT INTO checkpoints (chain, size, head, key_id, note, created) VALUES (?, ?, ?, ?, ?, ?)",
        (cp.chain, cp.size, cp.head, ",".join(cp.key_ids()), cp.text, time.time()),
    )
    return int(cur.lastrowid or 0)


def stored_checkpoints(store: Store, chain_id: str | None = None) -> list[tuple[int, str, str]]:
    """Rows ``(id, chain, note)`` of stored checkpoints (all, or one chain's), by size."""
    sql = "SELECT id, chain, note FROM checkpoints"
    params: tuple[str, ...] = ()
    if chain_id is not None:
        sql, params = sql + " WHERE chain = ?", (chain_id,)
    return [(int(r[0]), str(r[1]), str(r[2])) for r in store.conn.execute(sql + " ORDER BY size, id", params)]


def sign_verified(store: Store, chain_id: str, private_key: PrivateKey | list[PrivateKey], size: int,
                  head: bytes) -> Checkpoint:
    """Sign and store a checkpoint of ``(size, head)`` exactly as given: nothing is read.

    For a caller that has just verified the chain and holds the verified size and
    head (``theater checkpoint``, :func:`verify.checkpoints.verify_and_sign`): reading
    the head again could sign what a concurrent writer put there since.
    """
    if size < 0:
        raise UsageError(f"checkpoint size must be >= 0, got {size}")
    keys = private_key if isinstance(private_key, list) else [private_key]
    cp = parse_checkpoint(sign_note(checkpoint_body(chain_id, size, head), keys))
    store_checkpoint(store, cp)
    return cp


def sign_checkpoint(
    store: Store,
    chain_id: str,
    private_key: PrivateKey | list[PrivateKey],
    *,
    size: int | None = None,
    head: bytes | None = None,
) -> Checkpoint:
    """Sign a checkpoint of a stored chain at ``size`` (default: all stored events) and store it.

    ``head`` is the hash of event ``size - 1`` as the caller computed it (the recorder
    passes ``writer.head`` after ``writer.flush()``); it must equal the stored one.
    Without it the stored hash is used: verify the chain first (``theater checkpoint``
    does), since a checkpoint vouches for whatever it signs.
    """
    from .chain import genesis_hash

    info = store.chain(chain_id)
    if size is None:
        last = store.last_event(chain_id)
        size = 0 if last is None else last.seq + 1
    if size < 0:
        raise UsageError(f"checkpoint size must be >= 0, got {size}")
    if size == 0:
        if info.format != "v1":
            raise UsageError("a checkpoint of an empty chain needs format v1 (genesis hash)")
        stored = genesis_hash(info.header)
    else:
        ev = store.event(chain_id, size - 1)
        if ev is None:
            raise UsageError(f"chain {chain_id} has no event {size - 1} stored (flush the writer first)")
        stored = ev.hash
    if head is not None and head != stored:
        raise UsageError(f"head {head.hex()[:16]} is not the stored hash of event {size - 1}")
    keys = private_key if isinstance(private_key, list) else [private_key]
    cp = parse_checkpoint(sign_note(checkpoint_body(chain_id, size, stored), keys))
    store_checkpoint(store, cp)
    return cp
