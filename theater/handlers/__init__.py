"""Handlers: plain live implementations of host interfaces.

A handler knows nothing about recording or replay; the boundary wraps every function
it provides. Each handler declares the interfaces it provides by versionless name
(``wasi:random/random``) and the WASI/theater version family it is compatible with;
the runtime binds them at the exact version the component imports.

Every live function is called as ``fn(store, *args)`` with wasmtime-py values and
returns a wasmtime-py value. Raise :class:`theater.errors.HostRefusal` to refuse a
call: the refusal is recorded and the guest traps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from ..errors import ManifestError
from ..manifest import HandlerConfig, Manifest

LiveFn = Callable[..., Any]
Schema = dict[str, Any]  # setting name -> expected type (a type or a tuple of types)


class Handler:
    """Base class. Subclasses set ``type`` and implement ``functions``."""

    type: ClassVar[str]
    settings_schema: ClassVar[Schema] = {}
    #: ``{versionless interface: (function names)}``: what the handler provides, known
    #: without constructing it (replay binds from this and never builds a handler)
    interfaces: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: ``{versionless interface: {resource name: host type id}}``
    resource_types: ClassVar[dict[str, dict[str, int]]] = {}

    def __init__(self, config: HandlerConfig, manifest: Manifest) -> None:
        self.config = config
        self.manifest = manifest
        for key, value in config.settings.items():
            want = self.settings_schema.get(key)
            where = f"{manifest.path}: handler[{config.index}] ({self.type}): `{key}`"
            if want is None:
                known = ", ".join(self.settings_schema) or "none"
                raise ManifestError(f"{where}: unknown setting (known settings: {known})")
            if not isinstance(value, want) or (isinstance(value, bool) and want is int):
                name = want.__name__ if isinstance(want, type) else "/".join(str(t.__name__) for t in want)
                raise ManifestError(f"{where}: must be {name}, got {type(value).__name__} {value!r}")

    def functions(self) -> dict[str, dict[str, LiveFn]]:
        """``{versionless interface: {function name: live fn}}``."""
        raise NotImplementedError

    def connect(self, handlers: list[Handler]) -> None:
        """Called once all of a run's handlers are built (the filesystem handler's file
        streams are the runtime handler's)."""

    def header_settings(self) -> dict[str, Any]:
        """The settings recorded in the chain header (deterministic values only)."""
        return self.config.to_json()

    def resume(self, interface: str, function: str, payload: dict[str, Any]) -> None:
        """Advance the live state past one recorded crossing of ``interface#function``
        (versionless interface; ``payload`` the event's ``{args, result | trap}``), so
        that a fork continues exactly where the recording was (replay/fork.py). A
        handler without state that the actor can observe does nothing."""


def registry() -> dict[str, type[Handler]]:
    from .environment import EnvironmentHandler
    from .filesystem import FilesystemHandler
    from .http_client import HttpClientHandler
    from .message_server import MessageServerHandler
    from .random import RandomHandler
    from .runtime import RuntimeHandler
    from .supervisor import SupervisorHandler
    from .timing import TimingHandler
    from .wasi_http import WasiHttpHandler

    return {h.type: h for h in (RuntimeHandler, RandomHandler, TimingHandler, EnvironmentHandler,
                                FilesystemHandler, HttpClientHandler, MessageServerHandler, SupervisorHandler,
                                WasiHttpHandler)}


# Which handler type provides an interface, for "not granted" messages.
PROVIDERS: dict[str, str] = {
    "theater:simple/runtime": "runtime",
    "wasi:cli/stdout": "runtime",
    "wasi:cli/stderr": "runtime",
    "wasi:io/streams": "runtime",
    "wasi:io/error": "runtime",
    "wasi:cli/stdin": "runtime",
    "wasi:cli/terminal-input": "runtime",
    "wasi:cli/terminal-output": "runtime",
    "wasi:cli/terminal-stdin": "runtime",
    "wasi:cli/terminal-stdout": "runtime",
    "wasi:cli/terminal-stderr": "runtime",
    "wasi:cli/exit": "runtime",
    "wasi:io/poll": "timing",
    "wasi:random/random": "random",
    "wasi:random/insecure": "random",
    "wasi:random/insecure-seed": "random",
    "wasi:clocks/wall-clock": "timing",
    "wasi:clocks/monotonic-clock": "timing",
    "theater:simple/timing": "timing",
    "wasi:cli/environment": "environment",
    "theater:simple/environment": "environment",
    "theater:simple/message-server-host": "message-server",
    "theater:simple/supervisor": "supervisor",
    "theater:simple/store": "store",
    "wasi:filesystem/types": "filesystem",
    "wasi:filesystem/preopens": "filesystem",
    "theater:simple/filesystem": "filesystem",
    "wasi:http/outgoing-handler": "http-client",
    "theater:simple/http-client": "http-client",
    "wasi:http/types": "wasi-http",
    "theater:simple/process": "process",
}


def build_handlers(
    manifest: Manifest, *, seed_override: int | None = None, warnings: list[str] | None = None
) -> list[Handler]:
    """Instantiate the manifest's handlers (errors name the file and the handler).

    An upstream handler type theater does not implement yet (``message-server``,
    ``store``, ...) grants nothing: a warning is added to ``warnings``, and the imports
    it would have provided are refused or trapped like any ungranted import. An
    unknown type is an error."""
    from ..manifest import UPSTREAM_HANDLER_TYPES

    reg = registry()
    out: list[Handler] = []
    seen: set[str] = set()
    for cfg in manifest.handlers:
        cls = reg.get(cfg.type)
        if cls is None and cfg.type in UPSTREAM_HANDLER_TYPES:
            if warnings is not None:
                warnings.append(
                    f"{manifest.path}: handler[{cfg.index}]: type {cfg.type!r} is not supported by theater yet "
                    "and grants nothing"
                )
            continue
        if cls is None:
            raise ManifestError(
                f"{manifest.path}: handler[{cfg.index}]: type {cfg.type!r} is unknown "
                f"(supported: {', '.join(sorted(reg))})"
            )
        if cfg.type in seen:
            raise ManifestError(f"{manifest.path}: handler[{cfg.index}]: a second {cfg.type!r} handler")
        seen.add(cfg.type)
        if cfg.type == "random" and seed_override is not None:
            cfg = HandlerConfig(cfg.type, {**cfg.settings, "seed": seed_override}, cfg.index)
        out.append(cls(cfg, manifest))
    for h in out:
        h.connect(out)
    return out
