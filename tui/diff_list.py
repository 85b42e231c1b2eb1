"""Two chains aligned by content, side by side, with their common prefix folded away."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style

from theater.align import AlignKind, Alignment
from theater.chain import Event
from theater.text import human_size, inert_line
from verify.diff import Row

from .data import ChainSource
from .event_list import DIM, fit, fit_type, type_style
from .virtual_list import VirtualList

CONTEXT = 3  # equal events shown just before the first difference
DIFFERS = Style(color="red", bold=True)
ONLY = Style(color="yellow", bold=True)
FIRST = Style(bgcolor="dark_red", color="white", bold=True)
MARKS = {AlignKind.EQUAL: "  ", AlignKind.CHANGED: " ≠", AlignKind.MISSING: " -", AlignKind.INSERTED: " +"}


def as_row(ev: Event | None) -> Row | None:
    """An event as the stored-row tuple that :mod:`verify.diff` compares."""
    return None if ev is None else (ev.seq, ev.hash, ev.parent, ev.type, ev.data, ev.written_at)


class DiffList(VirtualList):
    """One row per aligned pair: chain A's event on the left, chain B's on the right.

    Rows follow :class:`theater.align.Alignment`: an event only in A (``-``) or only in
    B (``+``) has ``(no event)`` beside it and the rows after it line up again; a
    changed event (same type, other data) is marked ``≠``; the first difference is
    highlighted. The leading equal rows, but for the last few, are folded into one row
    at the top (``enter`` on it unfolds them).
    """

    HELP = """
## Diff

Chain A (expected, left) and chain B (actual, right), aligned by content: events are
compared on type and data (hashes differ whenever the headers do), and an inserted
(`+`) or missing (`-`) event realigns the rest. `≠` marks a changed event. The common
prefix is folded into the first row; `n` and `N` move between differences.
"""

    def __init__(self, source_a: ChainSource, source_b: ChainSource, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source_a = source_a
        self.source_b = source_b
        self.alignment: Alignment | None = None
        self.first: int | None = None  # the first differing aligned row
        self.fold = 0  # aligned rows [0, fold) are folded into row 0 (none when 0)

    def configure(self, alignment: Alignment) -> None:
        """Show ``alignment``: fold the leading equal rows and size the list."""
        self.alignment = alignment
        self.first = alignment.next_difference(-1)
        head = alignment.hunks[0] if alignment.hunks else None
        prefix = head.rows if head is not None and head.kind is AlignKind.EQUAL else 0
        self.fold = max(0, prefix - CONTEXT)
        self._resize()

    def unfold(self) -> None:
        """Show the whole common prefix, keeping the cursor on the same row."""
        if not self.fold:
            return
        row = self.aligned_at(self.cursor)
        self.fold = 0
        self._resize()
        self.move_to(row if row is not None else 0, center=True)

    def _resize(self) -> None:
        rows = 0 if self.alignment is None else self.alignment.rows
        self.set_row_count(rows - self.fold + (1 if self.fold else 0))
        self.refresh()

    @property
    def seq_width(self) -> int:
        return max(3, len(str(max(self.source_a.rows, self.source_b.rows, 1) - 1)))

    def aligned_at(self, index: int) -> int | None:
        """The aligned row shown on list row ``index`` (None for the fold row)."""
        if not self.fold:
            return index
        return None if index == 0 else self.fold + index - 1

    def index_of_aligned(self, row: int) -> int:
        """The list row that shows aligned row ``row`` (unfolding when it is folded away)."""
        if self.fold and row < self.fold:
            self.unfold()
        return row if not self.fold else row - self.fold + 1

    def pair_at(self, index: int) -> tuple[AlignKind, int | None, int | None] | None:
        """``(kind, seq in A, seq in B)`` on list row ``index`` (None: the fold row)."""
        row = self.aligned_at(index)
        if row is None or self.alignment is None or not 0 <= row < self.alignment.rows:
            return None
        return self.alignment.row(row)

    def seq_at(self, index: int) -> int | None:
        """The seq of chain A on list row ``index`` (of B where A has none; None for the fold row)."""
        pair = self.pair_at(index)
        if pair is None:
            return None
        return pair[1] if pair[1] is not None else pair[2]

    def index_of(self, seq: int) -> int:
        """The list row that shows ``seq`` of chain A (unfolding when it is folded away)."""
        row = None if self.alignment is None else self.alignment.row_of_seq(seq, side="a")
        if row is None and self.alignment is not None:
            row = self.alignment.row_of_seq(seq, side="b")
        return self.index_of_aligned(row if row is not None else 0)

    def current_row(self) -> int:
        """The aligned row under the cursor; on the fold row, the last folded one."""
        row = self.aligned_at(self.cursor)
        return self.fold - 1 if row is None else row

    def current_seq(self) -> int:
        """The seq under the cursor (chain A's, else B's); on the fold row, the last folded seq."""
        seq = self.seq_at(self.cursor)
        if seq is None and self.alignment is not None and self.fold:
            seq = self.alignment.row(self.fold - 1)[1]
        return seq if seq is not None else 0

    def rows_at(self, index: int) -> tuple[Row | None, Row | None]:
        """The stored rows of both chains on list row ``index``."""
        pair = self.pair_at(index)
        if pair is None:
            return None, None
        _, sa, sb = pair
        return (None if sa is None else as_row(self.source_a.event(sa)),
                None if sb is None else as_row(self.source_b.event(sb)))

    def render_row(self, index: int, width: int, style: Style) -> list[Segment]:
        pair = self.pair_at(index)
        if pair is None:
            if self.fold and index == 0:
                text = f"  ≡ {self.fold:,} identical events (seq 0–{self.fold - 1}) · enter unfolds"
                return [Segment(fit(text, width), style + DIM)]
            return [Segment(" " * width, style)]
        kind, sa, sb = pair
        a = None if sa is None else self.source_a.event(sa)
        b = None if sb is None else self.source_b.event(sb)
        first = self.first is not None and self.aligned_at(index) == self.first
        equal = kind is AlignKind.EQUAL
        mark_style = style + (FIRST if first else DIM if equal else ONLY if kind in (
            AlignKind.MISSING, AlignKind.INSERTED) else DIFFERS)
        mark = ("▶" + MARKS[kind][1]) if first else MARKS[kind]
        half = max(0, (width - len(mark) - 1) // 2)
        return [
            Segment(mark, mark_style),
            *self._side(a, sa, half, style, equal, b),
            Segment("│", style + DIM),
            *self._side(b, sb, width - len(mark) - 1 - half, style, equal, a),
        ]

    def _side(self, ev: Event | None, seq: int | None, width: int, style: Style, equal: bool,
              other: Event | None) -> list[Segment]:
        sw = self.seq_width
        if ev is None:
            label = " " * (sw + 1) + " (no event)" if seq is None else f"{seq:>{sw}}  (no event stored)"
            return [Segment(fit(label, width), style + ONLY)]
        seq_text = f"{ev.seq:>{sw}} "
        size = f" {human_size(len(ev.data)):>8}"
        type_w = max(0, width - len(seq_text) - len(size) - 1)
        type_differs = other is None or other.type != ev.type
        tstyle = style + (ONLY if other is None else DIFFERS if type_differs else type_style(ev.type))
        sstyle = style + (DIM if equal else DIFFERS)
        return [
            Segment(seq_text[:width], style + DIM),
            Segment(" " + fit_type(inert_line(ev.type), type_w), tstyle),
            Segment(size[: max(0, width - len(seq_text) - type_w - 1)], sstyle),
        ]
