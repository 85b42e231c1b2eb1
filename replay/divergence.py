"""Divergence: the first point where a replayed run differs from its recording."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from theater.canonical import canonical_json
from theater.chain import Event
from theater.jsondiff import Difference, differences
from theater.outcomes import DivergenceKind
from theater.text import inert, inert_line

#: kinds of divergence (theater.outcomes.DivergenceKind; ``head`` is stored in the
#: replays table only, for a replay whose events all match but whose head does not)
KINDS: dict[DivergenceKind, str] = {
    DivergenceKind.DIFFERENT_CALL: "the replay made a different host call than the recording",
    DivergenceKind.ARGUMENTS: "a host call had different arguments",
    DivergenceKind.EXTRA_CALL: "the replay made a host call the recording does not have",
    DivergenceKind.MISSING_CALL: "the recording has a host call the replay did not make",
    DivergenceKind.RESULT: "an export returned a different result or state",
    DivergenceKind.TRAP: "the replay trapped where the recording did not, or the reverse",
    DivergenceKind.END: "the run ended differently",
    DivergenceKind.RESULT_TYPE: "a recorded result does not fit the replayed component's types",
    DivergenceKind.SIGNATURE: "the replayed component's export has a different signature",
}


@dataclass(frozen=True, kw_only=True)
class Divergence:
    """Where and how a replay first differed from its recording.

    ``seq`` is the seq of the first recorded event that the replay did not reproduce;
    ``expected`` / ``actual`` are the recorded and replayed values (JSON);
    ``differences`` the structural diff between them; ``context`` the few recorded
    events just before.
    """

    seq: int
    kind: DivergenceKind
    type: str
    message: str
    expected: Any
    actual: Any
    differences: list[Difference] = field(default_factory=list)
    context: list[Event] = field(default_factory=list)

    @classmethod
    def build(cls, seq: int, kind: str, type_: str, message: str, expected: Any, actual: Any,
              context: list[Event]) -> Divergence:
        diffs = differences(expected, actual) if expected is not None and actual is not None else []
        type_diff = [d for d in diffs if d.path == "type"]
        if type_diff:  # a different crossing: its arguments are not comparable
            diffs = type_diff
        return cls(seq=seq, kind=DivergenceKind(kind), type=type_, message=message, expected=expected,
                   actual=actual, differences=diffs, context=context)

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "type": self.type,
            "message": self.message,
            "expected": self.expected,
            "actual": self.actual,
            "differences": [d.to_json() for d in self.differences],
            "context": [{"seq": e.seq, "type": e.type, "hash": e.hash.hex()} for e in self.context],
        }

    def report(self) -> str:
        """A human report: the event, what differed field by field, and what came before.

        Types, messages and values come from the recording and the actor: the report is
        made inert (control characters escaped) so it cannot drive a terminal."""
        lines = [f"diverged at event {self.seq}: {inert_line(self.type)}", f"  {inert(self.message)}"]
        for d in self.differences[:10]:
            lines.append(f"  {inert(d.describe())}")
        if not self.differences:
            lines.append(f"  expected: {inert(_short(self.expected))}")
            lines.append(f"  actual:   {inert(_short(self.actual))}")
        if self.context:
            lines.append("  events before it (recorded):")
            for e in self.context:
                lines.append(f"    {e.seq:>6}  {inert_line(e.type)}")
        return "\n".join(lines)


def _short(v: Any, limit: int = 160) -> str:
    s = canonical_json(v).decode() if v is not None else "nothing"
    return s if len(s) <= limit else s[: limit - 3] + "..."
