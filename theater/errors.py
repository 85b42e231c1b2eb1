"""The exception hierarchy of theater.

::

    TheaterError                 base of everything theater raises on purpose
    ├── UsageError               bad input from the user: a path, an id, a flag (exit 2)
    │   ├── ManifestError        a manifest that cannot be loaded (names file and key)
    │   ├── ChainNotFound        no chain, or an ambiguous prefix
    │   ├── ChainInUse           `theater rm` of a chain other chains link to
    │   └── CheckpointError      a key file or checkpoint text that cannot be read
    ├── StoreError               a database that cannot be opened or read whole (exit 2)
    │   └── MalformedEvent       a stored row whose values are not of the types theater
    │                            writes (a file changed by hand), named by its seq
    ├── ComponentError           a file that is not a usable component (exit 2)
    │   └── CapabilityError      an import the manifest does not grant (exit 2)
    ├── ActorError               the actor trapped, ran out of fuel or returned err (exit 1)
    ├── ComponentMismatch        a database's component bytes do not hash to the
    │                            component_sha256 the chain recorded (exit 1)
    ├── BadSignature             a checkpoint signature by a known key that does not
    │                            verify, or none by a known key (exit 1; verify
    │                            reports it as a result)
    ├── ReplayError              replay could not run at all (exit 2); a divergence
    │                            is a result, not an exception ...
    ├── DivergenceError          ... unless the caller asks: replay(...,
    │                            raise_on_divergence=True) raises it, carrying the
    │                            Divergence and the ReplayResult (exit 1)
    └── Interrupted              the user stopped the run: SIGINT (exit 130) or
                                 SIGTERM (exit 143); a recording keeps what it wrote

    ValueError
    └── CodecError               a value does not fit its WIT type (theater.codec); the
                                 message starts with the value's path

    Exception                    signals inside a run, between a handler, the boundary
    ├── HostRefusal              and the replayer; none of them reaches the user:
    ├── HostTrap                 a handler refuses a call (recorded as a trap); what
    ├── DivergenceSignal         the boundary raises into the guest for a trapped host
    ├── StopReplay               call; the first crossing that differs from the
    ├── ActorExit                record; stop a replay after ``--until``; the actor
    │                            called wasi:cli/exit (recorded), ending its run
    ├── HttpLimit                an HTTP body over its limit or malformed: the
    │                            http-client's ``err`` result, ``theater serve``'s 4xx
    ├── FastPathFallback         a value theater's conversions (theater/fastcall.py) are
    │                            not sure of: wasmtime-py's own conversion takes it
    └── FastPathUnsupported      a type they do not cover: the function is left to
                                 wasmtime-py

Every message is one line saying what is wrong and, where it helps, what to do.
"""

from __future__ import annotations

import signal
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """The CLI's exit-code contract."""

    OK = 0
    FAILED = 1  # verification failed, replay diverged, the actor failed
    USAGE = 2  # usage or input error
    INTERRUPTED = 130  # SIGINT (Ctrl-C)
    TERMINATED = 143  # SIGTERM


class TheaterError(Exception):
    """Base class of every error theater raises on purpose."""

    exit_code: ExitCode = ExitCode.USAGE


class UsageError(TheaterError):
    """Bad input from the user."""


class ManifestError(UsageError):
    """A manifest that cannot be loaded."""


class ChainNotFound(UsageError):
    """No chain matches the given id or prefix, or the prefix is ambiguous."""


class ChainInUse(UsageError):
    """A chain other chains link to (replay_of, fork_of, a run) that was asked to be
    removed without ``--force``."""


class CheckpointError(UsageError):
    """A key file or checkpoint text that cannot be read (malformed input)."""


class StoreError(TheaterError):
    """A database that cannot be opened, written or read whole."""


class MalformedEvent(StoreError):
    """A stored event row whose values are not of the types theater writes (only a
    file changed by hand): reported as ``malformed`` with its seq (exit 2)."""


class ComponentError(TheaterError):
    """A file that is not a usable WebAssembly component."""


class CapabilityError(ComponentError):
    """The component imports an interface that the manifest does not grant."""


class ActorError(TheaterError):
    """The actor trapped, ran out of fuel, or returned an error."""

    exit_code = ExitCode.FAILED


class ComponentMismatch(TheaterError):
    """Component bytes taken from a database are not the component the chain recorded."""

    exit_code = ExitCode.FAILED


class BadSignature(TheaterError):
    """A checkpoint signature by a known key that does not verify, or no known signature."""

    exit_code = ExitCode.FAILED


class ReplayError(TheaterError):
    """Replay could not be started (missing component, unreadable chain)."""


class DivergenceError(TheaterError):
    """A replay diverged and the caller asked for an exception
    (``replay(..., raise_on_divergence=True)``). ``divergence`` is the
    :class:`replay.Divergence` (None when only the head hashes differ); ``result``
    the :class:`replay.ReplayResult`, whose chain is already stored."""

    exit_code = ExitCode.FAILED

    def __init__(self, message: str, *, divergence: Any = None, result: Any = None) -> None:
        super().__init__(message)
        self.divergence = divergence
        self.result = result


class Interrupted(TheaterError):  # noqa: N818 (named for what happened, like KeyboardInterrupt)
    """The user stopped the run: exit 130 (SIGINT, Ctrl-C) or 143 (SIGTERM). A
    recording keeps what it wrote."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, message: str, *, signum: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.signum = signum
        if signum == signal.SIGTERM:
            self.exit_code = ExitCode.TERMINATED

    @property
    def what(self) -> str:
        """``interrupted`` (SIGINT) or ``terminated`` (SIGTERM)."""
        return "terminated" if self.signum == signal.SIGTERM else "interrupted"

    def again(self, message: str) -> Interrupted:
        """The same stop, with a message saying what was kept."""
        return Interrupted(message, signum=self.signum)


class CodecError(ValueError):
    """A value does not fit its type; the message starts with the value's path."""


class HostRefusal(Exception):
    """Raised by a live handler to refuse a call (recorded as a trap crossing)."""


class HostTrap(Exception):
    """What the boundary raises into the guest when a host call traps (recorded)."""


class DivergenceSignal(Exception):
    """Raised inside a replayed run at the first crossing that differs from the record."""

    def __init__(self, kind: str, seq: int, type_: str, expected: Any, actual: Any, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.seq = seq
        self.type = type_
        self.expected = expected
        self.actual = actual
        self.message = message


class StopReplay(Exception):
    """Raised to stop a replay after a given seq (``--until``)."""


class FastPathFallback(Exception):
    """A value theater/fastcall.py's conversions are not sure of (a ``bytearray``, an
    ``int`` out of range...): caught by their caller, which calls wasmtime-py's own
    conversion instead."""


class FastPathUnsupported(Exception):
    """A component type theater/fastcall.py's conversions do not cover (flags, a
    resource...): the function is left to wasmtime-py."""


class HttpLimit(Exception):
    """An HTTP body over its size limit or malformed, with the status to answer
    (``theater serve``) or the message of the ``err`` result (http-client)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ActorExit(Exception):
    """Raised by the boundary after it recorded (or replayed) a ``wasi:cli/exit#exit``
    call: it unwinds the guest, and the export call ends as an exit, ``ok`` (the run
    stopped) or not (the run ended in error)."""

    def __init__(self, ok: bool) -> None:
        super().__init__("the actor exited" + ("" if ok else " with an error status"))
        self.ok = ok
