"""What every wasmtime-py fast path of theater shares: the pin, the fingerprints, the
switch (review leftover D7: three modules carried three copies of it).

theater/fastvalues.py (bulk ``list<u8>``), theater/fasttypes.py (component types read
once), theater/fasthost.py (the host-call trampoline) and theater/fastcall.py (export
calls) each replace or stand in for some of wasmtime-py 50.0.1's code. Each is used
only when :func:`decide` says so:

- ``THEATER_NO_FASTPATH`` (:data:`ENV_OFF`) is unset, empty or ``0``;
- the installed wasmtime-py is :data:`CHECKED_VERSION` (pinned in pyproject.toml);
- every function (or module file) it mirrors hashes, source for source, to the
  SHA-256 recorded when it was checked (:func:`source_sha`, :func:`module_def_sha`,
  :func:`file_sha`), so a patched build of the same version falls back too;
- whatever else the module checks (the C value layout, for instance) holds.

Otherwise wasmtime-py's own code runs, and :class:`FastPathStatus` says why.
"""

from __future__ import annotations

import functools
import hashlib
import linecache
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "CHECKED_VERSION", "ENV_OFF", "FastPathState", "FastPathStatus", "decide", "file_sha", "installed_version",
    "module_def_sha", "source_of", "source_sha", "switched_off",
]

#: The wasmtime-py version the fast paths were checked against (pinned in pyproject.toml).
CHECKED_VERSION = "50.0.1"
#: Set to anything but "" or "0" to keep wasmtime-py's own code everywhere.
ENV_OFF = "THEATER_NO_FASTPATH"


class FastPathState(StrEnum):
    """Whether a fast path is in use, or why not."""

    ACTIVE = "active"  # installed
    DISABLED = "disabled"  # THEATER_NO_FASTPATH is set
    UNSUPPORTED_VERSION = "unsupported_version"  # another wasmtime version than CHECKED_VERSION
    CODE_CHANGED = "code_changed"  # the version matches, the code it mirrors does not
    LAYOUT_CHANGED = "layout_changed"  # the C value layout is not the one assumed
    NOT_INSTALLED = "not_installed"  # install() has not run (or uninstall() did)


@dataclass(frozen=True, kw_only=True)
class FastPathStatus:
    """The outcome of a fast path's checks: the state, the wasmtime version found, and a
    sentence saying why when the fast path is not active."""

    state: FastPathState
    wasmtime: str
    reason: str = ""

    @property
    def active(self) -> bool:
        return self.state is FastPathState.ACTIVE

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "state": str(self.state), "active": self.active}


@functools.cache
def installed_version() -> str:
    """The installed wasmtime-py's version (read once)."""
    from importlib.metadata import version

    return version("wasmtime")


def switched_off(environ: Mapping[str, str] | None = None) -> bool:
    """Whether :data:`ENV_OFF` turns the fast paths off (default: ``os.environ``)."""
    return (os.environ if environ is None else environ).get(ENV_OFF, "") not in ("", "0")


def source_of(fn: Any) -> str:
    """The source lines of a function, from its ``def`` to its last line of code
    (``inspect.getsource`` tokenizes the file: 50 ms for four functions)."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return ""
    lines = linecache.getlines(code.co_filename)
    last = max((line for _, _, line in code.co_lines() if line is not None), default=0)
    return "".join(lines[code.co_firstlineno - 1:last])


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest() if text else ""


def source_sha(fn: Any) -> str:
    """SHA-256 of :func:`source_of` (``""`` where the source cannot be read)."""
    return _sha(source_of(fn))


def module_def(module: Any, name: str) -> str:
    """The source of the module-level ``def name`` of ``module``, with its decorator
    line (for a ctypes callback, whose Python function is not reachable)."""
    lines = linecache.getlines(module.__file__)
    start = next((i for i, ln in enumerate(lines) if ln.startswith(f"def {name}(")), None)
    if start is None:
        return ""
    first = start - 1 if start and lines[start - 1].startswith("@") else start
    end = start + 1
    while end < len(lines) and (lines[end].startswith((" ", "\t")) or not lines[end].strip()):
        end += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return "".join(lines[first:end])


def module_def_sha(module: Any, name: str) -> str:
    """SHA-256 of :func:`module_def`."""
    return _sha(module_def(module, name))


def file_sha(rel: str) -> str:
    """SHA-256 of a whole file of the installed wasmtime-py (``rel`` from site-packages,
    such as ``wasmtime/component/_linker.py``); ``""`` if it cannot be read."""
    import wasmtime

    root = os.path.dirname(os.path.dirname(wasmtime.__file__))
    try:
        with open(os.path.join(root, rel), "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return ""


def decide(*, what: str, expected: Mapping[str, str], found: Callable[[], Mapping[str, str]],
           version: str | None = None, environ: Mapping[str, str] | None = None,
           layout_ok: Callable[[], bool] | None = None, layout: str = "") -> FastPathStatus:
    """The one decision every fast path makes. ``what`` ends each reason (what runs
    instead: "wasmtime-py converts every value itself"); ``expected`` maps each name to
    the SHA-256 checked, ``found()`` to the one installed (called only when the
    switch and the version allow); ``layout_ok()`` / ``layout`` are a module's own
    further check (called last) and its reason."""
    version = installed_version() if version is None else version
    if switched_off(environ):
        return FastPathStatus(state=FastPathState.DISABLED, wasmtime=version, reason=f"{ENV_OFF} is set: {what}")
    if version != CHECKED_VERSION:
        return FastPathStatus(state=FastPathState.UNSUPPORTED_VERSION, wasmtime=version,
                              reason=f"checked against wasmtime {CHECKED_VERSION} only: {what}")
    installed = found()
    changed = sorted(name for name, sha in expected.items() if installed.get(name) != sha)
    if changed:
        return FastPathStatus(state=FastPathState.CODE_CHANGED, wasmtime=version,
                              reason=f"wasmtime {version} differs from the checked code in {', '.join(changed)}")
    if layout_ok is not None and not layout_ok():
        return FastPathStatus(state=FastPathState.LAYOUT_CHANGED, wasmtime=version, reason=layout)
    return FastPathStatus(state=FastPathState.ACTIVE, wasmtime=version)
