"""Signed-note keys: Ed25519 signer and verifier keys, their key ids and files.

Key files use the signed-note (Go ``sumdb/note``) encodings::

    public   <name>+<key id hex>+<base64(0x01 || public key)>
    private  PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || private seed)>

The key id is the first 4 bytes of SHA-256(key name || 0x0A || 0x01 || public key).
``cryptography`` is imported only inside the functions that sign or verify.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CheckpointError, UsageError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SIG_ED25519 = 0x01
MAX_NOTE_BYTES = 1 << 16


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
