"""Time travel in the browser (issue 13 item 4): an export call's state before and
after, their structural diff, the neighbouring export calls, and the ``theater fork``
line that continues the recording from an event.

Nothing here imports textual. The state bytes come from the recorded event (no code
runs); they are decoded by :func:`theater.state.decode_state`, the one decoder of
``theater state``, so the browser reads a state exactly as the CLI prints it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from rich.console import Group, RenderableType
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from theater.canonical import decode_tagged_bytes
from theater.chain import EXPORT_PREFIX, Event
from theater.errors import UsageError
from theater.jsondiff import Difference, differences
from theater.state import StateEncoding, decode_state, export_from, export_state, last_export
from theater.store import Store
from theater.text import inert, inert_line

from .detail import json_renderable

__all__ = ["ForkLine", "StateChange", "fork_line", "next_export", "state_change", "state_renderable"]

MAX_DIFFERENCES = 40


@dataclass(frozen=True, kw_only=True)
class StateChange:
    """What one export call did to the actor's state: the bytes passed in (``before``)
    and the bytes it left (``after``: returned, or kept when the call failed)."""

    seq: int
    type: str
    before: bytes | None
    after: bytes | None

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def decoded(self) -> tuple[tuple[StateEncoding, Any], tuple[StateEncoding, Any]]:
        return decode_state(self.before), decode_state(self.after)

    def differences(self, *, limit: int = MAX_DIFFERENCES) -> list[Difference]:
        """The structural differences of the decoded states, by path (``count``,
        ``items[2]``); a change of encoding or of a text or binary state is one
        difference at the top."""
        (eb, vb), (ea, va) = self.decoded()
        if eb != ea:
            return [Difference("", vb, va)] if self.changed else []
        return differences(vb, va, limit=limit)

    def to_json(self) -> dict[str, Any]:
        (eb, vb), (ea, va) = self.decoded()
        return {"seq": self.seq, "type": self.type, "changed": self.changed,
                "before": {"encoding": eb, "value": vb}, "after": {"encoding": ea, "value": va},
                "differences": [d.to_json() for d in self.differences()]}


def _option_bytes(v: Any) -> bytes | None:
    if isinstance(v, dict) and list(v) == ["some"]:
        return decode_tagged_bytes(v["some"])
    return None


def state_change(ev: Event | None) -> StateChange | None:
    """The state change of an export event, or None for any other event (or an
    export that records no ``option<list<u8>>`` state)."""
    if ev is None or not ev.type.startswith(EXPORT_PREFIX):
        return None
    try:
        after = export_state(ev)
    except UsageError:
        return None
    payload = ev.payload()
    before_raw = payload["args"].get("state") if isinstance(payload, dict) else None
    before = _option_bytes(before_raw)
    if before_raw is not None and before is None:
        return None  # not an option<list<u8>>: no state to show
    return StateChange(seq=ev.seq, type=ev.type, before=before, after=after)


def _value_renderable(encoding: StateEncoding, value: Any, size: int | None) -> RenderableType:
    if encoding == StateEncoding.NONE:
        return Text("none", style="dim italic")
    label = Text(f"{encoding} · {size} bytes", style="dim")
    if encoding == StateEncoding.JSON:
        body: RenderableType = json_renderable(value)
    elif encoding == StateEncoding.TEXT:
        body = Text(inert(str(value)))
    else:
        body = Text(str(value), style="cyan")  # hex digits
    return Group(label, body)


def _show(v: Any, limit: int = 60) -> str:
    try:
        s = orjson.dumps(v).decode()
    except TypeError:
        s = repr(v)
    return inert_line(s if len(s) <= limit else s[: limit - 3] + "...")


def diff_text(diffs: list[Difference], *, more: bool = False) -> Text:
    """One line per difference: ``~ path: before → after``, ``- path``, ``+ path``."""
    text = Text()
    for i, d in enumerate(diffs):
        if i:
            text.append("\n")
        where = inert_line(d.path or "(whole state)")
        if d.kind == "missing":
            text.append(f"- {where}: ", "red").append(_show(d.expected), "red")
        elif d.kind == "added":
            text.append(f"+ {where}: ", "green").append(_show(d.actual), "green")
        else:
            text.append(f"~ {where}: ", "yellow").append(_show(d.expected), "red").append(" → ")
            text.append(_show(d.actual), "green")
    if more:
        text.append(f"\n… more than {len(diffs)} differences", "dim")
    return text


def state_renderable(change: StateChange, *, width: int = 80) -> RenderableType:
    """What changed (one line per path), then the state before and after (side by side
    when there is room)."""
    (eb, vb), (ea, va) = change.decoded()
    before = _value_renderable(eb, vb, None if change.before is None else len(change.before))
    after = _value_renderable(ea, va, None if change.after is None else len(change.after))
    parts: list[RenderableType] = [
        Rule(Text(f"state at #{change.seq} · before → after"), align="left", style="dim")]
    diffs = change.differences(limit=MAX_DIFFERENCES + 1)
    if not change.changed:
        parts.append(Text("unchanged", style="dim"))
    else:
        parts.append(diff_text(diffs[:MAX_DIFFERENCES], more=len(diffs) > MAX_DIFFERENCES))
    if width >= 70:
        grid = Table.grid(padding=(0, 2), expand=True)
        grid.add_column(ratio=1, overflow="fold")
        grid.add_column(ratio=1, overflow="fold")
        grid.add_row(Text("before", style="bold"), Text("after", style="bold"))
        grid.add_row(before, after)
        parts.append(grid)
    else:
        parts += [Text("before", style="bold"), before, Text("after", style="bold"), after]
    return Group(*parts)


def next_export(store: Store, chain_id: str, seq: int, *, backwards: bool = False) -> int | None:
    """The seq of the next export call after ``seq`` (the previous one, ``backwards``)."""
    ev = export_from(store, chain_id, seq, backwards=backwards)
    return None if ev is None else int(ev.seq)


@dataclass(frozen=True, kw_only=True)
class ForkLine:
    """The ``theater fork`` command that continues ``chain`` from ``seq``: it forks after
    the export call ``point`` (None: there is none, ``line`` is None and ``note`` says why)."""

    chain: str
    seq: int
    point: int | None
    line: str | None
    note: str

    def to_json(self) -> dict[str, Any]:
        return {"chain": self.chain, "seq": self.seq, "point": self.point, "line": self.line, "note": self.note}


def fork_line(store: Store, db_path: Path, chain_id: str, seq: int) -> ForkLine:
    """The exact CLI line forking ``chain_id`` at ``seq`` in the database ``db_path``
    (absolute, quoted for a POSIX shell); append ``--send MSG`` for new inputs."""
    point = last_export(store, chain_id, seq)
    if point is None:
        return ForkLine(chain=chain_id, seq=seq, point=None, line=None,
                        note=f"no export call at or before seq {seq}: nothing to fork from")
    payload = point.payload()
    result = payload.get("result") if isinstance(payload, dict) else None
    if not isinstance(result, dict) or "ok" not in result:
        return ForkLine(chain=chain_id, seq=seq, point=point.seq, line=None,
                        note=f"the export call at seq {point.seq} did not return ok (the run ended there): "
                             "fork at an earlier event")
    line = shlex.join(["theater", "fork", chain_id, "--at", str(seq), "--db", str(db_path.resolve())])
    return ForkLine(chain=chain_id, seq=seq, point=point.seq, line=line,
                    note=f"replays seq 0 to {point.seq} ({inert_line(point.type)}), checked, then goes on live; "
                         "add --send MSG or --request MSG for the new inputs")
