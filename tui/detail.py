"""The detail of one event: decoded payload, bytes as hex, and the raw fields."""

from __future__ import annotations

from typing import Any, ClassVar

import orjson
from rich.console import Group, RenderableType
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
from theater.text import inert, inert_line
from verify.integrity import Problem

from .data import hexdump, human_size, tagged_bytes, utc
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
    """A decoded JSON value, pretty and highlighted, as inert text.

    rich's ``JSON`` re-serializes with ``ensure_ascii=False``, which writes DEL and the
    C1 controls raw; a value holding one is shown as plain, escaped text instead."""
    pretty = JSON(orjson.dumps(value).decode(), indent=2)
    plain = pretty.text.plain
    safe = inert(plain)
    return pretty if safe == plain else Text(safe)


def payload_renderable(data: bytes) -> tuple[RenderableType, Any]:
    """The data as pretty JSON (and its decoded value), or a note when it is not JSON."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return Text("(not JSON: see the bytes below)", style="yellow"), None
    if len(data) > MAX_JSON:
        return Text(inert(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())), value
    return json_renderable(value), value


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


def hex_width(cells: int) -> int:
    """Bytes per hex-dump line that fit in ``cells`` columns (4 to 16, a multiple of 4)."""
    return max(4, min(16, (cells - 11) // 4 // 4 * 4))


def event_renderable(
    ev: Event | None, seq: int, problem: Problem | None = None, *, width: int = 80
) -> RenderableType:
    """Everything about one event, top to bottom, for a pane ``width`` cells wide."""
    parts: list[RenderableType] = []
    if problem is not None:
        parts.append(problem_text(problem))
    if ev is None:
        parts.append(Text(f"No event is stored at seq {seq}.", style="bold red"))
        return Group(*parts)
    per_line = hex_width(width)
    parts.append(Text.assemble((f"#{ev.seq} ", "bold"),
                               (inert_line(ev.type), type_style(ev.type) + Style(bold=True))))
    parts.append(Rule(f"data · {human_size(len(ev.data))}", align="left", style="dim"))
    payload, value = payload_renderable(ev.data)
    parts.append(payload)
    for path, blob in tagged_bytes(value):
        # a Rule parses a str title as markup, and the path is made of the payload's keys
        parts.append(Rule(Text(f"{inert_line(path)} · {len(blob)} bytes"), align="left", style="dim"))
        parts.append(Text(hexdump(blob, width=per_line), style="cyan"))
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
    ]

    HELP = """
## Event detail

The event's data decoded as JSON; every `base64:` value (a `list<u8>`) again as a hex
dump; then the stored fields. The hash covers seq, parent, type and data. The time
it was written is kept beside it and is **not** authenticated.
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

    def compose(self) -> ComposeResult:
        yield Static(id="event-body")

    def show(self, ev: Event | None, seq: int, problem: Problem | None = None) -> None:
        """Show ``ev`` (None: nothing stored at ``seq``) and, if given, the failure there."""
        self._shown = (ev, seq, problem)
        self._render_shown()
        self.scroll_home(animate=False)

    def show_message(self, message: str) -> None:
        """Show a line of text instead of an event."""
        self._shown = None
        self.query_one("#event-body", Static).update(Text(inert(message), style="dim"))

    def _render_shown(self) -> None:
        if self._shown is not None:
            width = self.scrollable_content_region.width or 80
            self.query_one("#event-body", Static).update(event_renderable(*self._shown, width=width))

    def on_resize(self) -> None:
        self._render_shown()
