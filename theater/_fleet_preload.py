"""Imported once by the fork server of the fleet's local workers (theater/fleet.py),
before any worker is forked from it: what a worker's first replay would otherwise
import or read itself (every handler module, the seeded RNG and its cryptography,
wasmtime's installed version), about 0.25 s of each worker's start."""

from __future__ import annotations

from . import rng  # noqa: F401  (imported for the fork server's workers)
from .engine import _wasmtime_version
from .handlers import registry

registry()
_wasmtime_version()
