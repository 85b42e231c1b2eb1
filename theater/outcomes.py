"""The named values of a run: how it ended, the status of its chain, how a replay
diverged and how it ended. Each is a :class:`~enum.StrEnum` whose values are the strings stored in
the database and written in JSON (docs/storage.md, docs/chain-format.md), so a member
compares equal to, and serializes as, its value.

``EndOutcome.COMPLETED`` ("completed", how a run ended) and ``ChainStatus.COMPLETE``
("complete", the status of a chain whose end event is stored) are different things in
different enums.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ChainStatus", "DivergenceKind", "EndOutcome", "ReplayOutcome"]


class EndOutcome(StrEnum):
    """The ``outcome`` of a chain's end event."""

    COMPLETED = "completed"  # every input was handled
    STOPPED = "stopped"  # the actor called theater:simple/runtime#shutdown
    TRAPPED = "trapped"  # the actor trapped (or ran out of fuel)
    ERROR = "error"  # an export returned err, or the actor could not be instantiated
    DIVERGED = "diverged"  # a replay chain that differed from its recording

    @property
    def ok(self) -> bool:
        """The run ended as the actor meant it to (completed, or stopped by request)."""
        return self in (EndOutcome.COMPLETED, EndOutcome.STOPPED)


class ChainStatus(StrEnum):
    """The ``status`` column of the chains table."""

    RECORDING = "recording"  # a writer is appending
    COMPLETE = "complete"  # the end event is stored
    INCOMPLETE = "incomplete"  # the writer stopped without an end event (a prefix)


class DivergenceKind(StrEnum):
    """How a replay first differed from its recording (replay.divergence.KINDS)."""

    DIFFERENT_CALL = "different_call"
    ARGUMENTS = "arguments"
    EXTRA_CALL = "extra_call"
    MISSING_CALL = "missing_call"
    RESULT = "result"
    TRAP = "trap"
    END = "end"
    RESULT_TYPE = "result_type"
    SIGNATURE = "signature"
    HEAD = "head"  # no event differed, yet the head hashes do (stored in the replays table)


class ReplayOutcome(StrEnum):
    """How a replay ended, as stored in the ``replays`` table (docs/storage.md)."""

    VERIFIED = "verified"  # reproduced the recording hash for hash
    DIVERGED = "diverged"  # differed at ``seq`` (``kind``, the report beside)
    STOPPED = "stopped"  # stopped by request (--until) after ``seq``
    FAILED = "failed"  # could not go on (``kind`` names the error, ``report`` says it)
    INTERRUPTED = "interrupted"  # Ctrl-C / SIGTERM after ``seq`` events
