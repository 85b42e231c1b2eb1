"""Deterministic replay of recorded chains, and divergence reports.

:func:`replay` re-runs a stored chain on its recorded host results and returns a
:class:`ReplayResult` (with the :class:`Divergence`, if any); with
``raise_on_divergence=True`` a divergence raises :class:`DivergenceError` instead.
:func:`fork` continues a recording live from an event (:class:`ForkResult`);
:func:`replay_overrides` replays it with host results replaced (:class:`OverrideResult`).
The replayer pulls in wasmtime, so it loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from theater.errors import DivergenceError

from .divergence import Divergence

if TYPE_CHECKING:
    from .fork import ForkResult, fork
    from .replayer import ReplayResult, replay
    from .whatif import OverrideResult, replay_overrides

__all__ = ["Divergence", "DivergenceError", "ForkResult", "OverrideResult", "ReplayResult", "fork", "replay",
           "replay_overrides"]

_LAZY = {"replay": "replayer", "ReplayResult": "replayer", "fork": "fork", "ForkResult": "fork",
         "replay_overrides": "whatif", "OverrideResult": "whatif"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'replay' has no attribute {name!r}")
