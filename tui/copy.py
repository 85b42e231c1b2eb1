"""What ``y`` copies from an event (issue 17 item 6): its hash, its JSON, its decoded values.

Pressed again on the same event, ``y`` copies the next of these (hash, event JSON, the
decoded byte values in the detail's current view, then the hash again). The text goes
to the terminal's clipboard by OSC 52 (``App.copy_to_clipboard``), which terminals and
tmux may refuse silently, so the toast says what was copied and shows its start:
what a terminal does not take can still be read there, or copied with ``theater show``.
Nothing here imports textual.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from theater.chain import Event
from theater.decode import View, decoded, event_to_json, is_json, parse_json, render
from theater.text import inert_line

PREVIEW = 48  # characters of the copied text shown in the toast


@dataclass(frozen=True, kw_only=True)
class Copy:
    """One thing ``y`` can copy: ``what`` it is (for the toast) and the ``text``."""

    what: str
    text: str

    def to_json(self) -> dict[str, str]:
        return {"what": self.what, "text": self.text}


def copy_choices(ev: Event, *, view: View = View.AUTO, legacy: bool = False) -> list[Copy]:
    """What ``y`` cycles through for ``ev``: the hash, the event JSON (``theater show
    --json``'s), and, when the event holds byte values (or is not JSON), them decoded."""
    choices = [
        Copy(what="hash", text=ev.hash.hex()),
        Copy(what="event JSON",
             text=orjson.dumps(event_to_json(ev, legacy=legacy), option=orjson.OPT_INDENT_2).decode()),
    ]
    value = parse_json(ev.data)
    if not is_json(value):
        choices.append(Copy(what="data (not JSON)", text=render(ev.data, view).text))
        return choices
    values = decoded(value, legacy=legacy)
    if len(values) == 1:
        choices.append(Copy(what=f"decoded {values[0].path}", text=render(values[0].data, view).text))
    elif values:
        text = "\n\n".join(f"{d.path}:\n{render(d.data, view).text}" for d in values)
        choices.append(Copy(what=f"{len(values)} decoded values", text=text))
    return choices


def copied_message(copy: Copy, seq: int, following: Copy | None) -> str:
    """The toast after a copy: what, how long, its start, and what ``y`` copies next."""
    first = copy.text.split("\n", 1)[0]
    start = inert_line(first[:PREVIEW]) + ("…" if len(first) > PREVIEW or "\n" in copy.text else "")
    then = f" · y again: the {following.what}" if following is not None else ""
    return (f"Copied the {inert_line(copy.what)} of event {seq} ({len(copy.text)} characters, by OSC 52; "
            f"a terminal or tmux may refuse it): {start}{then}")
