"""theater: deterministic record, replay and verification of WebAssembly component actors.

The core (this package, ``replay`` and ``verify``) never imports textual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .rng import ChaCha20Rng

__all__ = ["ChaCha20Rng", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy, so `theater verify` does not pay for what it does not use.
    if name == "ChaCha20Rng":
        from .rng import ChaCha20Rng

        return ChaCha20Rng
    raise AttributeError(f"module 'theater' has no attribute {name!r}")
