"""The detail of one event: the payload, each byte value in it decoded, and the raw fields.

Every byte value (a state, a message, random bytes, a body; in a legacy chain the Rust
runtime's byte arrays) is shown by the one decoder, theater/decode.py: JSON when it
parses, text when it is printable UTF-8, a hex dump as wide as the pane otherwise;
``t`` switches every value to text, JSON, hex and back to that choice (issue 17 item 1).
``y`` copies the hash, then the event JSON, then the decoded values (tui/copy.py).
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson
from rich.console import Group, RenderableType
from rich.highlighter import JSONHighlighter
from rich.json import JSON
from rich.rule import Rule
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from theater.chain import Event
from theater.decode import Rendered, View, decoded, hexdump, is_json, parse_json, pretty_json, render
from theater.decode import hex_width as hex_width
from theater.text import human_size, inert, inert_line
from verify.integrity import Problem

from .copy import copied_message, copy_choices
from .data import utc
from .event_list import type_style

MAX_JSON = 256 * 1024  # larger payloads are shown as text, not pretty-printed
RAW_HEX = 512  # bytes of the raw data shown as hex


def problem_text(problem: Problem) -> Text:
    """A verification failure: class, seq, message, expected and computed values."""
    where = "" if problem.seq is None else f" at seq {problem.seq}"
    text = Text.assemble(("✗ ", "bold red"), (f"{inert_line(problem.kind)}{where}", "bold red"),
                         f": {inert(problem.message)}")
    if problem.expected is not None:
        text.append("\n  expected  ", "dim").append(inert(problem.expected))
    if problem.computed is not None:
        text.append("\n  computed  ", "dim").append(inert(problem.computed))
    return text


def json_renderable(value: Any) -> RenderableType:
    """A decoded JSON value, pretty and highlighted, as inert text (the diff screen's).

    rich's ``JSON`` re-serializes with ``ensure_ascii=False``, which writes DEL and the
    C1 controls raw; a value holding one is shown as plain, escaped text instead."""
    pretty = JSON(orjson.dumps(value).decode(), indent=2)
    plain = pretty.text.plain
    safe = inert(plain)
    return pretty if safe == plain else Text(safe)


def json_text(plain: str) -> Text:
    """JSON text (made inert here), highlighted, wrapping at the pane edge: a long string
    is folded onto the next lines, never cut (issue 17 item 1)."""
    text = Text(inert(plain), overflow="fold", no_wrap=False)
    if len(plain) <= MAX_JSON:
        JSONHighlighter().highlight(text)
    return text


def rendered_text(r: Rendered) -> Text:
    """One byte value as rendered: JSON highlighted, text folded, hex in cyan."""
    if r.view is View.JSON:
        return json_text(r.text)
    return Text(r.text, style="cyan" if r.view is View.HEX else "", overflow="fold", no_wrap=False)


def payload_renderable(value: Any, *, width: int = 80, view: View = View.AUTO,
                       legacy: bool = False) -> RenderableType:
    """A decoded payload as the event detail shows it (theater/decode.py): each byte value
    in it decoded (JSON, text or a hex dump ``width`` cells wide), then the JSON, its long
    strings folded onto the next lines, never cut (the diff screen's two columns)."""
    parts: list[RenderableType] = []
    for d in decoded(value, legacy=legacy):
        r = render(d.data, view, width=width)
        parts.append(Text(f"{inert_line(d.path)} · {len(d.data)} bytes · {r.label}", style="dim"))
        parts.append(rendered_text(r))
    if parts:
        parts.append(Text("data · JSON", style="dim"))
    parts.append(json_text(pretty_json(value)))
    return Group(*parts)


def fields_table(ev: Event) -> Table:
    """The stored fields; written-at is marked as not covered by the hash."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("seq", str(ev.seq))
    table.add_row("type", Text(inert_line(ev.type)))  # a str cell would be parsed as markup
    table.add_row("hash", ev.hash.hex())
    table.add_row("parent", ev.parent.hex())
    table.add_row("size", f"{len(ev.data)} bytes")
    table.add_row(
        "written at",
        Text.assemble(utc(ev.written_at), ("\nunauthenticated: not part of the hash", "yellow")),
    )
    return table


def is_legacy(ev: Event) -> bool:
    """A legacy chain's event (the Rust runtime's, SHA-1): its byte arrays are bytes."""
    return len(ev.hash) == 20


def event_renderable(
    ev: Event | None, seq: int, problem: Problem | None = None, *, width: int = 80, view: View = View.AUTO
) -> RenderableType:
    """Everything about one event, top to bottom, for a pane ``width`` cells wide, its
    byte values in ``view`` (auto: each as its bytes read)."""
    parts: list[RenderableType] = []
    if problem is not None:
        parts.append(problem_text(problem))
    if ev is None:
        parts.append(Text(f"No event is stored at seq {seq}.", style="bold red"))
        return Group(*parts)
    per_line = hex_width(width)
    parts.append(Text.assemble((f"#{ev.seq} ", "bold"),
                               (inert_line(ev.type), type_style(ev.type) + Style(bold=True))))
    value = parse_json(ev.data)
    if not is_json(value):  # a tampered or foreign row: its bytes, as text or hex
        r = render(ev.data, View.JSON if view is View.AUTO else view, width=width)
        shown = {View.TEXT: "text", View.HEX: "hex"}.get(r.view, str(r.view))
        parts.append(Rule(f"data · {human_size(len(ev.data))} · not JSON · {shown}", align="left", style="dim"))
        parts.append(Text("(not JSON)", style="yellow"))
        parts.append(rendered_text(r))
    else:
        # the byte values first, decoded (what is looked for), then the payload around them
        for d in decoded(value, legacy=is_legacy(ev)):
            r = render(d.data, view, width=width)
            # a Rule parses a str title as markup, and the path is made of the payload's keys
            parts.append(Rule(Text(f"{inert_line(d.path)} · {len(d.data)} bytes · {r.label}"), align="left",
                              style="dim"))
            parts.append(rendered_text(r))
        parts.append(Rule(f"data · {human_size(len(ev.data))} · JSON", align="left", style="dim"))
        parts.append(json_text(pretty_json(value)))
    parts.append(Rule("fields", align="left", style="dim"))
    parts.append(fields_table(ev))
    parts.append(Rule(f"raw data · hex · first {min(RAW_HEX, len(ev.data))} bytes", align="left",
                      style="dim"))
    parts.append(Text(hexdump(ev.data, width=per_line, limit=RAW_HEX), style="dim"))
    return Group(*parts)


SCROLL = Binding.Group("Scroll")


class EventDetail(VerticalScroll, can_focus=True, inherit_bindings=False):
    """A scrolling pane that shows one event (see :func:`event_renderable`)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "scroll_up", "Scroll up", id="detail-scroll-up", group=SCROLL, key_display="↑"),
        Binding("down", "scroll_down", "Scroll down", id="detail-scroll-down", group=SCROLL,
                key_display="↓"),
        Binding("pageup", "page_up", "Page up", id="detail-page-up", group=SCROLL, key_display="PgUp"),
        Binding("pagedown", "page_down", "Page down", id="detail-page-down", group=SCROLL,
                key_display="PgDn"),
        Binding("home", "scroll_home", "Top", id="detail-top", group=SCROLL, key_display="Home"),
        Binding("end", "scroll_end", "Bottom", id="detail-bottom", group=SCROLL, key_display="End"),
        Binding("t", "cycle_view", "View", id="detail-view",
                tooltip="Show every byte value as text, JSON, hex, or each as it reads (auto)"),
        Binding("y", "copy", "Copy", id="detail-copy",
                tooltip="Copy the hash; again: the event JSON; again: the decoded values"),
    ]

    HELP = """
## Event detail

The event's data decoded as JSON; then every byte value in it (a `base64:` value, a
`list<u8>`; in a legacy chain an array of byte numbers) decoded: as JSON when it
parses, as text when it is printable UTF-8, as a hex dump otherwise. `t` shows every
value as text, then JSON, then hex, then each as it reads again; a row whose data is
not JSON (a tampered one) is labelled `(not JSON)`. `y` copies the hash, pressed again
the event JSON, then the decoded values (OSC 52: the toast shows what was copied).
Then the stored fields. The hash covers seq, parent, type and data. The time it was
written is kept beside it and is **not** authenticated.
"""

    DEFAULT_CSS = """
    EventDetail {
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: tuple[Event | None, int, Problem | None] | None = None
        self.view = View.AUTO  # how byte values are shown (t)
        self._copied = -1  # the last of copy_choices that y copied for the event shown

    def compose(self) -> ComposeResult:
        yield Static(id="event-body")

    def show(self, ev: Event | None, seq: int, problem: Problem | None = None) -> None:
        """Show ``ev`` (None: nothing stored at ``seq``) and, if given, the failure there."""
        self._shown = (ev, seq, problem)
        self._copied = -1
        self._render_shown()
        self.scroll_home(animate=False)

    def show_message(self, message: str) -> None:
        """Show a line of text instead of an event."""
        self._shown = None
        self.query_one("#event-body", Static).update(Text(inert(message), style="dim"))

    def _render_shown(self) -> None:
        if self._shown is not None:
            width = self.scrollable_content_region.width or 80
            self.query_one("#event-body", Static).update(
                event_renderable(*self._shown, width=width, view=self.view))

    def on_resize(self) -> None:
        self._render_shown()

    def action_cycle_view(self) -> None:
        """``t``: every byte value as text, JSON, hex, then each as it reads (auto)."""
        self.set_view(self.view.next())

    def set_view(self, view: View) -> None:
        """Show byte values in ``view`` (the event screen hands back the one chosen there)."""
        if view is not self.view:
            self.view = view
            self._render_shown()  # the data rule names the view

    def action_copy(self) -> None:
        """``y``: copy the hash, then the event JSON, then the decoded values (tui/copy.py)."""
        ev = None if self._shown is None else self._shown[0]
        if ev is None:
            self.notify("No event here to copy", severity="warning", timeout=3)
            return
        choices = copy_choices(ev, view=self.view, legacy=is_legacy(ev))
        self._copied = (self._copied + 1) % len(choices)
        chosen = choices[self._copied]
        self.app.copy_to_clipboard(chosen.text)
        following = choices[(self._copied + 1) % len(choices)]
        self.notify(copied_message(chosen, ev.seq, following), title="Copied", markup=False, timeout=6)
