"""The wasmtime engine, configured for determinism, and the compiled-component cache.

Compiled components are cached on disk (``Component.serialize``), so a
componentize-py actor that compiles in seconds cold loads in milliseconds warm. The
cache folder is ``$THEATER_CACHE_DIR`` or ``~/.cache/theater/compiled``, created 0700.

The cache key is the SHA-256 of the bytes being compiled, computed here, plus the
wasmtime version and :data:`CONFIG_TAG`: never a string from a header, a database
or a file name. A compiled artifact is native code, so it is loaded only when the
digest theater wrote beside it (``<key>.cwasm.sha256``: SHA-256 over the key and the
artifact's bytes) matches the bytes read; anything else is recompiled over.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
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


def request_stop() -> None:
    """Make every running store trap at its next epoch check (loop heads, function
    entries). Safe to call from any thread."""
    engine().increment_epoch()


def cache_dir() -> Path:
    env = os.environ.get("THEATER_CACHE_DIR")
    return Path(env) if env else Path(os.path.expanduser("~")) / ".cache" / "theater" / "compiled"


def _wasmtime_version() -> str:
    from importlib.metadata import version

    return version("wasmtime")


def cache_key(data: bytes) -> str:
    """The cache file's stem for these bytes: their SHA-256, the wasmtime version and
    the engine configuration's tag."""
    sha = hashlib.sha256(data).hexdigest()
    version = re.sub(r"[^0-9A-Za-z.+_-]", "_", _wasmtime_version())
    return f"{sha}-{version}-{CONFIG_TAG}"


def _cache_path(key: str) -> Path:
    sha = key.partition("-")[0]
    if not is_sha256_hex(sha) or "/" in key or "\0" in key or key.startswith("."):
        raise ValueError(f"not a cache key: {key!r}")
    return cache_dir() / f"{key}.cwasm"


def _artifact_digest(key: str, artifact: bytes) -> str:
    return hashlib.sha256(_ARTIFACT_TAG + key.encode() + b"\0" + artifact).hexdigest()


def _read_nofollow(path: Path) -> bytes | None:
    """A regular file's bytes, never through a symlink; None if absent or not one."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    except OSError:
        return None
    finally:
        os.close(fd)


def _load_cached(eng: wasmtime.Engine, key: str) -> wc.Component | None:
    """The cached artifact for ``key``, only if theater wrote it for exactly that key."""
    path = _cache_path(key)
    artifact = _read_nofollow(path)
    if artifact is None:
        return None
    digest = _read_nofollow(path.with_name(path.name + ".sha256"))
    if digest is None or digest.strip().decode("ascii", "replace") != _artifact_digest(key, artifact):
        return None  # not written by theater for this key (or damaged): compile instead
    try:
        return wc.Component.deserialize(eng, artifact)
    except wasmtime.WasmtimeError:
        return None  # stale (another wasmtime build): recompiled and rewritten


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
    eng = engine()
    key = cache_key(data)
    if use_cache:
        cached = _load_cached(eng, key)
        if cached is not None:
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
    return comp


def read_component_file(path: Path) -> bytes:
    """Read a component file (binary or .wat text), with one-line errors."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ComponentError(f"component file not found: {path}") from None
    except OSError as e:
        raise ComponentError(f"cannot read component {path}: {e.strerror}") from None
