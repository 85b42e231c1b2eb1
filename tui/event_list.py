"""The event list of one chain: seq, type, what happened, short hash and data size."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style

from theater.chain import Event
from theater.summary import summary
from theater.text import human_size, inert_line

from .data import LRU, ChainSource, RowView, short_hash
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
    """An event type in ``width`` cells, keeping its ``#function`` (the telling part):
    the interface's version goes first, then its start, so a cut type reads
    ``…random#get-random-bytes``, never the same prefix on every row."""
    if len(type_) <= width:
        return type_.ljust(width)
    head, sep, function = type_.rpartition("#")
    if sep:
        head = head.partition("@")[0]  # host:wasi:random/random@0.2.9 -> host:wasi:random/random
        short = head + sep + function
        if len(short) <= width:
            return short.ljust(width)
        if len(function) + 1 <= width:
            return "…" + short[len(short) - width + 1:]
        bare = function.rpartition("]")[2]  # [method]output-stream.write -> output-stream.write
        if len(bare) + 1 <= width:
            return ("…" + bare).ljust(width)
        return "…" + bare[len(bare) - width + 1:]
    return fit(type_, width)


#: below this many columns of the screen the hash column hides (and the panes stack)
NARROW = 100
#: the type column: at most this wide, the rest is the summary's
TYPE_MAX = 34
TYPE_MIN = 14
#: a pane narrower than this leaves the hash out too (the summary says more)
HASH_MIN = 72


class EventList(VirtualList):
    """Rows of a :class:`ChainSource`, fetched page by page as they scroll into view.

    Each row: the seq, the type (its function kept), what happened in words
    (theater/summary.py), the hash's first digits (hidden when ``narrow``) and the data
    size. ``view`` says which seqs are rows and in which order (a filter, the noise
    toggle, the call tree: tui/data.py :class:`RowView`). ``bad`` maps a seq to a
    failure class found by verification; that row is marked.
    """

    HELP = """
## Events

One row per event: the seq, the event type (host import, guest export, end), what
happened in words, the first 8 hex digits of its hash (hidden below 100 columns) and
the size of its data. Rows are read from the database as they scroll into view.

- `/` finds text in types, arguments, results, log text and decoded bytes
  (`re:` for a regular expression; a lowercase pattern ignores case); `n`/`N` step.
- `\\` shows only the rows that match (an empty pattern shows all again).
- `c` nests host calls under the export that made them; `x` hides noise (wasi:io,
  then everything but exports).
"""

    def __init__(self, source: ChainSource, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source = source
        self.bad: dict[int, str] = {}
        self.view = RowView(total=source.rows)
        self.narrow = False
        self._summaries: LRU[int, str] = LRU(4096)

    def on_mount(self) -> None:
        self.set_row_count(self.view.count)

    def set_view(self, view: RowView, *, keep_seq: int | None = None) -> None:
        """Show ``view``; the cursor stays on ``keep_seq`` (or the nearest row before it)."""
        self.view = view
        self.set_row_count(view.count)
        if keep_seq is not None and view.count:
            self.move_to(view.nearest_row(keep_seq), center=True)
        self.refresh()

    @property
    def cursor_seq(self) -> int | None:
        """The seq at the cursor, None when the list is empty."""
        return self.view.seq(self.cursor) if self.row_count else None

    @property
    def seq_width(self) -> int:
        return max(3, len(str(max(0, self.source.rows - 1))))

    def summary(self, ev: Event) -> str:
        text = self._summaries.get(ev.seq)
        if text is None:
            text = summary(ev.type, ev.data)
            self._summaries.put(ev.seq, text)
        return text

    def render_row(self, index: int, width: int, style: Style) -> list[Segment]:
        sw = self.seq_width
        seq_no = self.view.seq(index) if index < self.view.count else index
        depth = self.view.depth(index) if index < self.view.count else 0
        ev = self.source.event(seq_no)
        bad = self.bad.get(seq_no)
        mark = Segment("✗ " if bad else "  ", style + BAD)
        indent = "  " * depth if depth else ""
        seq = Segment(f"{indent}{seq_no:>{sw}}  ", style + DIM if ev is None else style)
        rest = width - 2 - sw - 2 - len(indent)
        if ev is None:
            return [mark, seq, Segment(fit("(no event stored at this seq)", rest), style + BAD)]
        tail = f"  {human_size(len(ev.data)):>8}"
        if not self.narrow and width >= HASH_MIN:
            tail = f"  {short_hash(ev.hash)}" + tail
        if self.source.repeated(seq_no):
            tail = "  ×2" + tail
        body = max(0, rest - len(tail))
        type_width = min(TYPE_MAX, max(TYPE_MIN, body * 2 // 5)) if body > TYPE_MIN + 10 else body
        summary_width = max(0, body - type_width - 2)
        segments = [
            mark,
            seq,
            Segment(fit_type(inert_line(ev.type), type_width),
                    style if index == self.cursor else style + type_style(ev.type)),
        ]
        if summary_width:
            segments.append(Segment("  " + fit(self.summary(ev), summary_width), style))
        segments.append(Segment(tail[: max(0, rest - type_width - (summary_width + 2 if summary_width else 0))],
                                style + (BAD if bad else DIM)))
        return segments
