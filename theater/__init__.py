"""theater: deterministic record, replay and verification of WebAssembly component actors.

The public API of the core: :func:`record` an actor from its :class:`Manifest` into a
:class:`Store`, getting a :class:`RecordResult`; the errors of :mod:`theater.errors`;
the named values of :mod:`theater.outcomes`. Replay is the ``replay`` package, verification
the ``verify`` package (each exports its own API; theater never imports them).

The core (this package, ``replay`` and ``verify``) never imports textual. Names that
pull in wasmtime or SQLite load on first use, so ``import theater`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .errors import (
        ActorError,
        CapabilityError,
        ChainNotFound,
        CodecError,
        ComponentError,
        ComponentMismatch,
        DivergenceError,
        ExitCode,
        Interrupted,
        ManifestError,
        ReplayError,
        StoreError,
        TheaterError,
        UsageError,
    )
    from .manifest import Manifest, load_manifest
    from .outcomes import ChainStatus, DivergenceKind, EndOutcome
    from .recorder import Input, RecordResult, record
    from .rng import ChaCha20Rng
    from .store import Store

#: public name -> the module (relative to theater) that defines it
_LAZY = {
    "record": "recorder", "Input": "recorder", "RecordResult": "recorder",
    "Store": "store",
    "Manifest": "manifest", "load_manifest": "manifest",
    "EndOutcome": "outcomes", "ChainStatus": "outcomes", "DivergenceKind": "outcomes",
    "ChaCha20Rng": "rng",
    **{name: "errors" for name in (
        "ExitCode", "TheaterError", "UsageError", "ManifestError", "ChainNotFound", "StoreError",
        "ComponentError", "CapabilityError", "ActorError", "ComponentMismatch", "ReplayError",
        "DivergenceError", "Interrupted", "CodecError",
    )},
}

__all__ = [
    "ActorError", "CapabilityError", "ChaCha20Rng", "ChainNotFound", "ChainStatus", "CodecError",
    "ComponentError", "ComponentMismatch", "DivergenceError", "DivergenceKind", "EndOutcome", "ExitCode",
    "Input", "Interrupted", "Manifest", "ManifestError", "RecordResult", "ReplayError", "Store",
    "StoreError", "TheaterError", "UsageError", "__version__", "load_manifest", "record",
]
assert set(__all__) == {"__version__", *_LAZY}


def __getattr__(name: str) -> Any:
    # Lazy, so `theater verify` does not pay for what it does not use.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'theater' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
