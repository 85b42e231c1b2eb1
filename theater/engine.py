"""The wasmtime engine, configured for determinism, and the compiled-component cache.

Compiled components are cached on disk by component SHA-256 and wasmtime version
(``Component.serialize``), so a componentize-py actor that compiles in seconds cold
loads in milliseconds warm. The cache folder is ``$THEATER_CACHE_DIR`` or
``~/.cache/theater/compiled``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import wasmtime
import wasmtime.component as wc

from .errors import ComponentError

_ENGINE: wasmtime.Engine | None = None
CONFIG_TAG = "det1"  # bump when the engine configuration changes


def make_config() -> wasmtime.Config:
    cfg = wasmtime.Config()
    cfg.cranelift_nan_canonicalization = True
    cfg.wasm_relaxed_simd_deterministic = True
    cfg.wasm_threads = False
    cfg.consume_fuel = True
    return cfg


def engine() -> wasmtime.Engine:
    """The process-wide deterministic engine."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = wasmtime.Engine(make_config())
    return _ENGINE


def cache_dir() -> Path:
    env = os.environ.get("THEATER_CACHE_DIR")
    return Path(env) if env else Path(os.path.expanduser("~")) / ".cache" / "theater" / "compiled"


def _wasmtime_version() -> str:
    from importlib.metadata import version

    return version("wasmtime")


def _is_core_module(data: bytes) -> bool:
    # core modules have version 1, layer 0; components have version 0x0d, layer 1
    return data[:4] == b"\0asm" and data[4:8] == b"\x01\x00\x00\x00"


def load_component(data: bytes, *, sha256: str | None = None, use_cache: bool = True) -> wc.Component:
    """Compile (or load from the cache) a component from its bytes or WAT text."""
    sha = sha256 or hashlib.sha256(data).hexdigest()
    eng = engine()
    path = cache_dir() / f"{sha}-{_wasmtime_version()}-{CONFIG_TAG}.cwasm"
    if use_cache and path.exists():
        try:
            return wc.Component.deserialize_file(eng, str(path))
        except wasmtime.WasmtimeError:
            path.unlink(missing_ok=True)  # stale or damaged cache entry: recompile
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
        first = str(e).strip().splitlines()[0] if str(e).strip() else "invalid component"
        raise ComponentError(f"cannot compile the component: {first}") from None
    if use_cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(comp.serialize())
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only cache only costs speed
    return comp


def read_component_file(path: Path) -> bytes:
    """Read a component file (binary or .wat text), with one-line errors."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ComponentError(f"component file not found: {path}") from None
    except OSError as e:
        raise ComponentError(f"cannot read component {path}: {e.strerror}") from None
