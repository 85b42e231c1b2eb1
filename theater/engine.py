"""The wasmtime engine, configured for determinism, and the compiled-component cache.

Compiled components are cached on disk (``Component.serialize``), so a
componentize-py actor that compiles in seconds cold loads in milliseconds warm. The
cache folder is ``$THEATER_CACHE_DIR`` or ``~/.cache/theater/compiled``, created 0700.

The cache key is the SHA-256 of the bytes being compiled, computed here, plus the
wasmtime version and :data:`CONFIG_TAG`: never a string from a header, a database
or a file name. A compiled artifact is native code, so it is loaded only when the
digest theater wrote beside it (``<key>.cwasm.sha256``: SHA-256 over the key and the
artifact's bytes) matches the bytes read; anything else is recompiled over. Once the
bytes are hashed, the digest file's second line records the artifact's identity
(device, inode, size, mtime, ctime) and the file system's time before the hash, so an
artifact unchanged since is mapped without being read again (docs/performance.md,
"warm start", says why that keeps every change detected).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import stat
import tempfile
import threading
from pathlib import Path

import wasmtime
import wasmtime.component as wc

from . import fasttypes, fastvalues
from .errors import ComponentError

_ENGINE: wasmtime.Engine | None = None
CONFIG_TAG = "det2"  # bump when the engine configuration changes (det2: epoch interruption)

_HEX64 = re.compile(r"[0-9a-f]{64}")
_ARTIFACT_TAG = b"theater/cwasm/v1\0"


def is_sha256_hex(value: object) -> bool:
    """True for exactly 64 lowercase hex digits (a SHA-256 as theater writes it)."""
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def make_config() -> wasmtime.Config:
    cfg = wasmtime.Config()
    cfg.cranelift_nan_canonicalization = True
    cfg.wasm_relaxed_simd_deterministic = True
    cfg.wasm_threads = False
    cfg.consume_fuel = True
    # Only for stopping: the epoch is incremented when a stop is requested (SIGINT,
    # SIGTERM), never on a timer, so it cannot change what a run does (fuel stays the
    # only deterministic budget). Every store sets a deadline of one tick.
    cfg.epoch_interruption = True
    return cfg


def engine() -> wasmtime.Engine:
    """The process-wide deterministic engine."""
    global _ENGINE
    if _ENGINE is None:
        # list<u8> values in bulk, for the wasmtime-py version it was checked against
        # (else wasmtime-py's own conversion; THEATER_NO_FASTPATH=1 turns it off)
        fastvalues.install()
        fasttypes.install()
        _ENGINE = wasmtime.Engine(make_config())
    return _ENGINE


def new_store() -> wasmtime.Store:
    """A store of the engine, with the epoch deadline one tick ahead: it runs until a
    stop is requested (:func:`request_stop`)."""
    store = wasmtime.Store(engine())
    store.set_epoch_deadline(1)
    return store


#: set by :func:`request_stop`: a live wait of a handler (a timer, a sleep) wakes on it
#: instead of sleeping through a Ctrl-C; cleared when a new stop watch is armed
STOPPING = threading.Event()


def request_stop() -> None:
    """Make every running store trap at its next epoch check (loop heads, function
    entries) and wake every live wait. Safe to call from any thread."""
    STOPPING.set()
    engine().increment_epoch()


def cache_dir() -> Path:
    env = os.environ.get("THEATER_CACHE_DIR")
    return Path(env) if env else Path(os.path.expanduser("~")) / ".cache" / "theater" / "compiled"


@functools.cache
def _wasmtime_version() -> str:
    """The installed wasmtime's version (read once: importlib.metadata scans the
    installed distributions, about 3 ms a call)."""
    from importlib.metadata import version

    return version("wasmtime")


#: compiled components kept in this process by cache key (:func:`keep_compiled`); None: off
_KEPT: dict[str, tuple[wasmtime.Engine, wc.Component]] | None = None
_KEPT_MAX = 0


def keep_compiled(limit: int) -> None:
    """Keep up to ``limit`` compiled components in this process, by cache key, so that
    loading the same bytes again costs a hash and no deserialization (a fleet worker
    replays many chains of one component: replay/fleet.py); called again, it keeps
    what it holds, up to the new ``limit``. Off by default (``0`` turns it off): a
    process that loads a component once reads the disk cache as before."""
    global _KEPT, _KEPT_MAX
    if limit <= 0:
        _KEPT, _KEPT_MAX = None, 0
        return
    _KEPT, _KEPT_MAX = (_KEPT if _KEPT is not None else {}), limit
    while len(_KEPT) > limit:
        _KEPT.pop(next(iter(_KEPT)))  # the oldest


def cache_key(data: bytes) -> str:
    """The cache file's stem for these bytes: their SHA-256, the wasmtime version and
    the engine configuration's tag."""
    return _key_of(hashlib.sha256(data).hexdigest())


def _key_of(sha: str) -> str:
    """The cache key of bytes whose SHA-256 (hex) is ``sha``, just computed here."""
    version = re.sub(r"[^0-9A-Za-z.+_-]", "_", _wasmtime_version())
    return f"{sha}-{version}-{CONFIG_TAG}"


def _cache_path(key: str) -> Path:
    sha = key.partition("-")[0]
    if not is_sha256_hex(sha) or "/" in key or "\0" in key or key.startswith("."):
        raise ValueError(f"not a cache key: {key!r}")
    return cache_dir() / f"{key}.cwasm"


def _artifact_digest(key: str, artifact: bytes) -> str:
    return hashlib.sha256(_ARTIFACT_TAG + key.encode() + b"\0" + artifact).hexdigest()


def _open_nofollow(path: Path) -> tuple[int, os.stat_result] | None:
    """A regular file opened for reading, never through a symlink, and its fstat;
    None if absent or not one."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        return None
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return None
    return fd, st


def _read_fd(fd: int) -> bytes | None:
    try:
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    except OSError:
        return None


def _read_nofollow(path: Path) -> bytes | None:
    """A regular file's bytes, never through a symlink; None if absent or not one."""
    opened = _open_nofollow(path)
    if opened is None:
        return None
    try:
        return _read_fd(opened[0])
    finally:
        os.close(opened[0])


Ident = tuple[int, int, int, int, int]


def _ident(st: os.stat_result) -> Ident:
    """What changes whenever a file's bytes change through the file system: its device
    and inode (a replaced file is a new inode), size, mtime and ctime (the kernel sets
    ctime on every write, rename, link or utime; no user call can set it back)."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _ident_line(key: str, digest: str, ident: Ident, stamp: int) -> bytes:
    """The digest file's second line: the artifact's identity when its bytes were last
    hashed and the file system's time before that hash began (``stamp``), bound to the
    key and the digest (a digest file copied to another key, or kept beside another
    artifact, does not match)."""
    fields = " ".join(str(v) for v in (*ident, stamp))
    bound = hashlib.sha256(_ARTIFACT_TAG + f"{key}\0{digest}\0{fields}".encode()).hexdigest()
    return f"hashed {fields} {bound}".encode()


def _parse_ident_line(key: str, digest: str, line: str) -> tuple[Ident, int] | None:
    parts = line.split(" ")
    if len(parts) != 8 or parts[0] != "hashed" or not all(p.isdigit() for p in parts[1:7]):
        return None
    values = [int(p) for p in parts[1:7]]
    ident: Ident = (values[0], values[1], values[2], values[3], values[4])
    if _ident_line(key, digest, ident, values[5]).decode() != line:
        return None
    return ident, values[5]


def _deserialize_fd(eng: wasmtime.Engine, fd: int) -> wc.Component | None:
    """Deserialize the open artifact without reading it into Python: wasmtime maps the
    file itself (``/proc/self/fd``, the inode that was checked, not the path again)."""
    proc = f"/proc/self/fd/{fd}"
    try:
        if os.path.exists(proc):
            return wc.Component.deserialize_file(eng, proc)
        artifact = _read_fd(fd)
        return None if artifact is None else wc.Component.deserialize(eng, artifact)
    except wasmtime.WasmtimeError:
        return None


def _load_cached(eng: wasmtime.Engine, key: str) -> wc.Component | None:
    """The cached artifact for ``key``, only if theater wrote it for exactly that key.

    Its bytes are hashed (against the digest theater wrote beside it) the first time,
    and again whenever its identity (:func:`_ident`) is not the one the digest file
    recorded when they were last hashed; an artifact unchanged since is mapped by
    wasmtime without being read or hashed (docs/performance.md, "warm start")."""
    path = _cache_path(key)
    side = path.with_name(path.name + ".sha256")
    opened = _open_nofollow(path)
    if opened is None:
        return None
    fd, st = opened
    try:
        lines = (_read_nofollow(side) or b"").decode("ascii", "replace").split("\n")
        digest = lines[0].strip()
        ident = _ident(st)
        known = _parse_ident_line(key, digest, lines[1]) if len(lines) > 1 else None
        # unchanged since it was hashed: any change since has a ctime no earlier than
        # the stamp taken before that hash, and the stamp is later than the ctime seen
        if known is not None and known[0] == ident and ident[4] < known[1]:
            comp = _deserialize_fd(eng, fd)
            if comp is not None and _ident(os.fstat(fd)) == ident:
                return comp
        return _load_hashed(eng, key, fd, digest, side)
    except OSError:
        return None
    finally:
        os.close(fd)


def _load_hashed(eng: wasmtime.Engine, key: str, fd: int, digest: str, side: Path) -> wc.Component | None:
    """Read and hash the artifact; deserialize it if it is the one theater wrote for
    ``key``, and then record in the digest file that these bytes were hashed."""
    stamp = _fs_stamp(side.parent)  # the file system's clock, before the read
    before = _ident(os.fstat(fd))
    artifact = _read_fd(fd)
    if artifact is None or digest != _artifact_digest(key, artifact):
        return None  # not written by theater for this key (or damaged): compile instead
    try:
        comp = wc.Component.deserialize(eng, artifact)
    except wasmtime.WasmtimeError:
        return None  # stale (another wasmtime build): recompiled and rewritten
    # remembered only if it did not change while read and its last change is older
    # than the stamp (a change in the same clock tick as the stamp is hashed again)
    if stamp is not None and _ident(os.fstat(fd)) == before and before[4] < stamp:
        try:
            _write_atomic(side, digest.encode() + b"\n" + _ident_line(key, digest, before, stamp) + b"\n")
        except OSError:
            pass  # a read-only cache only costs speed: the next load hashes again
    return comp


def _fs_stamp(folder: Path) -> int | None:
    """The file system's current time (the mtime of a file created now in ``folder``),
    on the clock that sets the artifacts' ctime; None if nothing can be created."""
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".stamp")
    except OSError:
        return None
    try:
        return os.fstat(fd).st_mtime_ns
    finally:
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)


def _ensure_cache_dir(folder: Path) -> None:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.stat(folder)
    if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(folder, 0o700)


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)  # replaces a link itself, never writes through it
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _store_cached(key: str, comp: wc.Component) -> None:
    path = _cache_path(key)
    try:
        _ensure_cache_dir(path.parent)
        artifact = bytes(comp.serialize())
        # the artifact first, then its digest: a reader that sees the new digest sees the new artifact
        _write_atomic(path, artifact)
        _write_atomic(path.with_name(path.name + ".sha256"), _artifact_digest(key, artifact).encode() + b"\n")
    except OSError:
        pass  # a read-only cache only costs speed


def _is_core_module(data: bytes) -> bool:
    # core modules have version 1, layer 0; components have version 0x0d, layer 1
    return data[:4] == b"\0asm" and data[4:8] == b"\x01\x00\x00\x00"


def describe_wasmtime_error(e: BaseException, default: str = "failed") -> str:
    """A wasmtime error in one line that keeps its cause.

    wasmtime's messages are an outer line (often only "error while executing at wasm
    backtrace:"), a backtrace with addresses, and "Caused by:" lines. The result is
    the ``wasm trap:`` line if there is one; else the outer line and up to two causes
    joined with ": ", without the backtrace (so it is deterministic)."""
    lines = [ln.strip() for ln in str(e).splitlines()]
    for ln in lines:
        if ln.startswith("wasm trap:"):
            return ln
    outer = ""
    causes: list[str] = []
    in_causes = False
    for ln in lines:
        if ln == "Caused by:":
            in_causes = True
        elif in_causes and ln:
            causes.append(re.sub(r"^\d+:\s*", "", ln))
        elif ln and not outer:
            outer = re.sub(r"\s*(at )?wasm backtrace:$", "", ln).rstrip(" :")
    if outer == "error while executing" and causes:
        outer = ""  # says nothing the cause does not
    return ": ".join(p for p in (outer, *causes[:2]) if p) or default


def load_component(data: bytes, *, use_cache: bool = True) -> wc.Component:
    """Compile (or load from the cache) a component from its bytes or WAT text.

    The cache key is computed from ``data`` itself (:func:`cache_key`)."""
    return load_component_hashed(data, use_cache=use_cache)[0]


def load_component_hashed(data: bytes, *, use_cache: bool = True) -> tuple[wc.Component, str]:
    """:func:`load_component`, and the SHA-256 (hex) of ``data`` it computed for the
    cache key: what a chain's header binds and the store keys the bytes by, so a
    recording hashes its component once (about 13 ms for the 18 MB example actor)."""
    sha = hashlib.sha256(data).hexdigest()
    return _load(data, _key_of(sha), use_cache=use_cache), sha


def _load(data: bytes, key: str, *, use_cache: bool) -> wc.Component:
    eng = engine()
    if use_cache and _KEPT is not None and (kept := _KEPT.get(key)) is not None and kept[0] is eng:
        return kept[1]
    if use_cache:
        cached = _load_cached(eng, key)
        if cached is not None:
            _keep(key, eng, cached)
            return cached
    if _is_core_module(data):
        raise ComponentError(
            "this is a core WebAssembly module, not a component; build a component "
            "(e.g. with componentize-py, or `wasm-tools component new`)"
        )
    if not data.startswith(b"\0asm"):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = ""
        if "(component" not in text:
            raise ComponentError("not a WebAssembly component (no \\0asm magic, and not component WAT text)")
    try:
        comp = wc.Component(eng, data)
    except wasmtime.WasmtimeError as e:
        why = describe_wasmtime_error(e, "invalid component")
        raise ComponentError(f"cannot compile the component: {why}") from None
    if use_cache:
        _store_cached(key, comp)
        _keep(key, eng, comp)
    return comp


def _keep(key: str, eng: wasmtime.Engine, comp: wc.Component) -> None:
    if _KEPT is not None:
        if len(_KEPT) >= _KEPT_MAX:
            _KEPT.pop(next(iter(_KEPT)))  # the oldest
        _KEPT[key] = (eng, comp)


def read_component_file(path: Path) -> bytes:
    """Read a component file (binary or .wat text), with one-line errors."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ComponentError(f"component file not found: {path}") from None
    except OSError as e:
        raise ComponentError(f"cannot read component {path}: {e.strerror}") from None
