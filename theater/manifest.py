"""Actor manifests in the upstream TOML format.

::

    name = "example"
    version = "0.1.0"
    component = "actor.wasm"        # upstream's newer name is `package`
    description = "..."
    init_state = "state.json"       # optional: bytes given to init as its state

    [limits]                        # theater's own (optional)
    fuel = 10_000_000_000           # per export call
    memory = 268435456              # bytes of linear memory per actor
    component_bytes = 268435456     # largest component file theater reads

    [[handler]]
    type = "random"
    seed = 12345

Relative paths resolve against the manifest's folder. Errors name the file and key.
Every value is checked before anything runs: integers must fit in 64 bits (what the
chain header can hold), tables and arrays may nest at most :data:`MAX_DEPTH` deep.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ManifestError

DEFAULT_FUEL = 10_000_000_000
DEFAULT_MEMORY = 1 << 30
DEFAULT_COMPONENT_BYTES = 256 << 20  # [limits] component_bytes / $THEATER_MAX_COMPONENT_BYTES
MAX_MANIFEST_BYTES = 1 << 20
MAX_INIT_STATE_BYTES = 64 << 20  # the state is copied into the actor's memory
MAX_DEPTH = 32  # tables and arrays nested deeper than this are refused
INT_MIN, INT_MAX = -(1 << 63), (1 << 64) - 1  # what a chain header (JSON, i64/u64) can hold

# Handler types upstream knows; the ones theater implements are in theater.handlers.
UPSTREAM_HANDLER_TYPES = (
    "runtime", "random", "timing", "environment", "filesystem", "message-server", "store",
    "supervisor", "process", "http-client", "http-framework", "wasi-http",
)


@dataclass(frozen=True)
class HandlerConfig:
    """One ``[[handler]]`` table: its ``type`` and its flattened settings."""

    type: str
    settings: dict[str, Any] = field(default_factory=dict)
    index: int = 0  # position in the manifest, for error messages

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, **self.settings}


@dataclass(frozen=True)
class Manifest:
    path: Path
    name: str
    version: str
    component: Path
    description: str
    init_state: Path | None
    handlers: tuple[HandlerConfig, ...]
    fuel: int
    memory: int
    raw: dict[str, Any]
    component_bytes: int = DEFAULT_COMPONENT_BYTES

    def where(self, key: str) -> str:
        return f"{self.path}: {key}"

    def handler(self, type_: str) -> HandlerConfig | None:
        for h in self.handlers:
            if h.type == type_:
                return h
        return None

    def init_state_bytes(self) -> bytes | None:
        if self.init_state is None:
            return None
        try:  # bounded like the component: init_state = "/dev/zero" must not hang
            return read_bounded(self.init_state, MAX_INIT_STATE_BYTES)
        except OSError as e:
            raise ManifestError(f"{self.path}: init_state: cannot read {self.init_state}: {e.strerror}") from None


def _get(raw: dict[str, Any], key: str, types: type | tuple[type, ...], path: Path, *, required: bool = False,
         default: Any = None) -> Any:
    if key not in raw:
        if required:
            raise ManifestError(f"{path}: missing required key `{key}`")
        return default
    value = raw[key]
    if not isinstance(value, types) or isinstance(value, bool) and bool not in (
        types if isinstance(types, tuple) else (types,)
    ):
        want = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
        raise ManifestError(f"{path}: key `{key}` must be {want}, got {type(value).__name__} {value!r}")
    return value


class TooLarge(OSError):
    """A file larger than the limit it is read under (or not a regular file)."""


def read_bounded(path: Path, limit: int) -> bytes:
    """A regular file's bytes, at most ``limit`` of them: checked with stat before
    reading, and the read itself is bounded (a file that grows, or a device that
    reports size 0, cannot make theater read more)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        import stat

        if not stat.S_ISREG(st.st_mode):
            raise TooLarge(0, "not a regular file")
        if st.st_size > limit:
            raise TooLarge(0, f"{st.st_size} bytes, more than the limit of {limit}")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(0, f"more than the limit of {limit} bytes")
    return data


def _check_values(raw: dict[str, Any], path: Path) -> None:
    """Refuse integers a chain header cannot hold and nesting deeper than MAX_DEPTH.

    Walks without recursion (a hostile file cannot exhaust the stack) and names the key."""
    stack: list[tuple[str, Any, int]] = [(k, v, 1) for k, v in raw.items()]
    while stack:
        where, value, depth = stack.pop()
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            if not INT_MIN <= value <= INT_MAX:
                raise ManifestError(f"{path}: key `{where}`: the integer {value} does not fit in 64 bits "
                                    f"(the range is {INT_MIN} to {INT_MAX})")
        elif isinstance(value, (dict, list)):
            if depth >= MAX_DEPTH:
                raise ManifestError(f"{path}: key `{where}` is nested more than {MAX_DEPTH} tables or arrays deep")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend((f"{where}.{k}" if isinstance(value, dict) else f"{where}[{k}]", v, depth + 1)
                         for k, v in items)


def component_limit(raw_limit: int | None, path: Path) -> int:
    """The largest component file to read: the manifest's ``[limits] component_bytes``,
    else ``$THEATER_MAX_COMPONENT_BYTES``, else :data:`DEFAULT_COMPONENT_BYTES`."""
    if raw_limit is not None:
        return raw_limit
    env = os.environ.get("THEATER_MAX_COMPONENT_BYTES")
    if env is None or env == "":
        return DEFAULT_COMPONENT_BYTES
    try:
        value = int(env)
    except ValueError:
        value = 0
    if value <= 0:
        raise ManifestError(f"THEATER_MAX_COMPONENT_BYTES={env!r} is not a positive number of bytes; "
                            "unset it or set e.g. 268435456")
    return value


def load_manifest(path: str | Path) -> Manifest:
    """Load and check a manifest; raises :class:`ManifestError` naming file and key."""
    p = Path(path)
    try:
        text = read_bounded(p, MAX_MANIFEST_BYTES).decode("utf-8")
    except FileNotFoundError:
        raise ManifestError(f"no manifest at {p}") from None
    except OSError as e:
        raise ManifestError(f"cannot read manifest {p}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ManifestError(f"cannot read manifest {p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    return _parse(text, p)


def load_manifest_text(text: str, *, folder: Path) -> Manifest:
    """A manifest given as TOML content (``supervisor#spawn`` takes a path or the
    content): relative paths resolve against ``folder``, and errors name it as
    ``<folder>/<manifest content>``."""
    if len(text.encode("utf-8", "replace")) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"manifest content of more than {MAX_MANIFEST_BYTES} bytes")
    return _parse(text, folder / "<manifest content>")


def _parse(text: str, p: Path) -> Manifest:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ManifestError(f"{p}: not valid TOML: {e}") from None
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise ManifestError(f"{p}: not valid TOML: nested more than {MAX_DEPTH} tables or arrays deep") from None
    _check_values(raw, p)
    base = p.parent
    name = _get(raw, "name", str, p, required=True)
    version = _get(raw, "version", str, p, default="0.0.0")
    comp = raw.get("component", raw.get("package"))
    if comp is None:
        raise ManifestError(f"{p}: missing required key `component` (or `package`): the .wasm to run")
    if not isinstance(comp, str):
        raise ManifestError(f"{p}: key `component` must be a path string, got {type(comp).__name__}")
    init_state = _get(raw, "init_state", str, p)
    description = _get(raw, "description", str, p, default="")
    limits = _get(raw, "limits", dict, p, default={})
    fuel = _get(limits, "fuel", int, p.with_name(p.name + " [limits]"), default=DEFAULT_FUEL)
    memory = _get(limits, "memory", int, p.with_name(p.name + " [limits]"), default=DEFAULT_MEMORY)
    if fuel <= 0 or memory <= 0:
        raise ManifestError(f"{p}: [limits] fuel and memory must be positive")
    comp_limit = _get(limits, "component_bytes", int, p.with_name(p.name + " [limits]"))
    if comp_limit is not None and comp_limit <= 0:
        raise ManifestError(f"{p}: [limits] component_bytes must be positive")
    handlers_raw = raw.get("handler", [])
    if not isinstance(handlers_raw, list) or not all(isinstance(h, dict) for h in handlers_raw):
        raise ManifestError(f"{p}: `handler` must be an array of tables ([[handler]])")
    handlers = []
    for i, h in enumerate(handlers_raw):
        t = h.get("type")
        if not isinstance(t, str):
            raise ManifestError(f"{p}: handler[{i}]: missing `type` (one of {', '.join(UPSTREAM_HANDLER_TYPES)})")
        settings = {k: v for k, v in h.items() if k != "type"}
        if isinstance(settings.get("config"), dict):  # older upstream nests settings in `config`
            settings = {**settings.pop("config"), **settings}
        handlers.append(HandlerConfig(t, settings, i))
    return Manifest(
        path=p,
        name=name,
        version=version,
        component=(base / comp).resolve(),
        description=description,
        init_state=None if init_state is None else (base / init_state).resolve(),
        handlers=tuple(handlers),
        fuel=fuel,
        memory=memory,
        raw=raw,
        component_bytes=component_limit(comp_limit, p),
    )
