"""Deterministic replay of recorded chains, and divergence reports.

:func:`replay` re-runs a stored chain on its recorded host results and returns a
:class:`ReplayResult` (with the :class:`Divergence`, if any); with
``raise_on_divergence=True`` a divergence raises :class:`DivergenceError` instead.
The replayer pulls in wasmtime, so it loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from theater.errors import DivergenceError

from .divergence import Divergence

if TYPE_CHECKING:
    from .replayer import ReplayResult, replay

__all__ = ["Divergence", "DivergenceError", "ReplayResult", "replay"]


def __getattr__(name: str) -> Any:
    if name in ("replay", "ReplayResult"):
        from . import replayer

        return getattr(replayer, name)
    raise AttributeError(f"module 'replay' has no attribute {name!r}")
