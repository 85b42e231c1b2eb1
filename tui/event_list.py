"""The event list of one chain: seq, type, short hash and data size, one row per seq."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style

from theater.text import inert_line

from .data import ChainSource, human_size, short_hash
from .virtual_list import VirtualList

KIND_STYLES = {
    "host": Style(color="cyan"),
    "export": Style(color="green"),
    "end": Style(color="magenta", bold=True),
}
BAD = Style(color="red", bold=True)
DIM = Style(dim=True)


def type_style(type_: str) -> Style:
    """The colour of an event type by its kind (host import, guest export, end)."""
    return KIND_STYLES.get(type_.partition(":")[0] if type_ != "end" else "end", Style())


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells with an ellipsis, padded to exactly ``width``."""
    if width <= 0:
        return ""
    if len(text) > width:
        return text[: width - 1] + "…"
    return text.ljust(width)


def fit_type(type_: str, width: int) -> str:
    """An event type cut to ``width`` cells, keeping its ``#function`` (the telling
    part) and shortening the interface in the middle: ``host:wasi:random/…#get-random-bytes``."""
    if len(type_) <= width:
        return type_.ljust(width)
    head, sep, function = type_.rpartition("#")
    keep = width - len(function) - len(sep) - 1
    if not sep or keep < 6:
        return fit(type_, width)
    return head[:keep] + "…" + sep + function


class EventList(VirtualList):
    """Rows of a :class:`ChainSource`, fetched page by page as they scroll into view.

    ``bad`` maps a seq to a failure class found by verification; that row is marked.
    """

    HELP = """
## Events

One row per seq: the seq, the event type (host import, guest export, end), the first
8 hex digits of its hash and the size of its data. Rows are read from the database
as they scroll into view.
"""

    def __init__(self, source: ChainSource, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source = source
        self.bad: dict[int, str] = {}

    def on_mount(self) -> None:
        self.set_row_count(self.source.rows)

    @property
    def seq_width(self) -> int:
        return max(3, len(str(max(0, self.source.rows - 1))))

    def render_row(self, index: int, width: int, style: Style) -> list[Segment]:
        sw = self.seq_width
        ev = self.source.event(index)
        bad = self.bad.get(index)
        mark = Segment("✗ " if bad else "  ", style + BAD)
        seq = Segment(f"{index:>{sw}}  ", style + DIM if ev is None else style)
        rest = width - 2 - sw - 2
        if ev is None:
            return [mark, seq, Segment(fit("(no event stored at this seq)", rest), style + BAD)]
        tail = f"  {short_hash(ev.hash)}  {human_size(len(ev.data)):>8}"
        if self.source.repeated(index):
            tail = "  ×2" + tail
        type_width = max(0, rest - len(tail))
        return [
            mark,
            seq,
            Segment(fit_type(inert_line(ev.type), type_width),
                    style if index == self.cursor else style + type_style(ev.type)),
            Segment(tail[: max(0, rest - type_width)], style + (BAD if bad else DIM)),
        ]
