"""The exception hierarchy of theater.

::

    TheaterError                 base of everything theater raises on purpose
    ├── UsageError               bad input from the user: a path, an id, a flag (exit 2)
    │   ├── ManifestError        a manifest that cannot be loaded (names file and key)
    │   ├── ChainNotFound        no chain, or an ambiguous prefix
    │   └── CheckpointError      a key file or checkpoint text that cannot be read
    ├── StoreError               a database that cannot be opened or read whole (exit 2)
    ├── ComponentError           a file that is not a usable component (exit 2)
    │   └── CapabilityError      an import the manifest does not grant (exit 2)
    ├── ActorError               the actor trapped, ran out of fuel or returned err (exit 1)
    ├── ComponentMismatch        a database's component bytes do not hash to the
    │                            component_sha256 the chain recorded (exit 1)
    ├── BadSignature             a checkpoint signature by a known key that does not
    │                            verify, or none by a known key (exit 1; verify
    │                            reports it as a result)
    └── ReplayError              replay could not run at all (exit 2); a divergence
                                 is a result, not an exception

Every message is one line saying what is wrong and, where it helps, what to do.
"""

from __future__ import annotations

from enum import IntEnum


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


class CheckpointError(UsageError):
    """A key file or checkpoint text that cannot be read (malformed input)."""


class StoreError(TheaterError):
    """A database that cannot be opened, written or read whole."""


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
