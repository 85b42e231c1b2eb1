"""Two chains aligned by seq, side by side, with their common prefix folded away."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style

from theater.chain import Event
from theater.text import inert_line
from verify.diff import ChainDiff, Row

from .data import ChainSource, human_size
from .event_list import DIM, fit, fit_type, type_style
from .virtual_list import VirtualList

CONTEXT = 3  # equal events shown just before the first difference
DIFFERS = Style(color="red", bold=True)
FIRST = Style(bgcolor="dark_red", color="white", bold=True)


def as_row(ev: Event | None) -> Row | None:
    """An event as the stored-row tuple that :mod:`verify.diff` compares."""
    return None if ev is None else (ev.seq, ev.hash, ev.parent, ev.type, ev.data, ev.written_at)


class DiffList(VirtualList):
    """One row per seq with chain A's event on the left and chain B's on the right.

    The common prefix, but for the last few events before the first difference, is
    folded into one row at the top (``enter`` on it unfolds it). Differing rows are
    marked ``≠``; the first difference is highlighted.
    """

    HELP = """
## Diff

Chain A (expected, left) and chain B (actual, right), aligned by seq and compared on
type and data (hashes differ whenever the headers do). The common prefix is folded
into the first row; `n` and `N` move between differing events.
"""

    def __init__(self, source_a: ChainSource, source_b: ChainSource, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source_a = source_a
        self.source_b = source_b
        self.diff: ChainDiff | None = None
        self.fold = 0  # seqs [0, fold) are folded into row 0 (none when 0)

    def configure(self, diff: ChainDiff) -> None:
        """Show ``diff``: fold the prefix and size the list."""
        self.diff = diff
        self.fold = max(0, diff.common_prefix - CONTEXT)
        self._resize()

    def unfold(self) -> None:
        """Show the whole common prefix, keeping the cursor on the same seq."""
        if not self.fold:
            return
        seq = self.seq_at(self.cursor)
        self.fold = 0
        self._resize()
        self.move_to(seq if seq is not None else 0, center=True)

    def _resize(self) -> None:
        rows = max(self.source_a.rows, self.source_b.rows)
        self.set_row_count(rows - self.fold + (1 if self.fold else 0))
        self.refresh()

    @property
    def seq_width(self) -> int:
        return max(3, len(str(max(self.source_a.rows, self.source_b.rows, 1) - 1)))

    def seq_at(self, index: int) -> int | None:
        """The seq shown on row ``index`` (None for the fold row)."""
        if not self.fold:
            return index
        return None if index == 0 else self.fold + index - 1

    def index_of(self, seq: int) -> int:
        """The row that shows ``seq`` (unfolding when it is folded away)."""
        if self.fold and seq < self.fold:
            self.unfold()
        return seq if not self.fold else seq - self.fold + 1

    def current_seq(self) -> int:
        """The seq under the cursor; on the fold row, the last folded seq."""
        seq = self.seq_at(self.cursor)
        return self.fold - 1 if seq is None else seq

    def rows_at(self, seq: int) -> tuple[Row | None, Row | None]:
        return as_row(self.source_a.event(seq)), as_row(self.source_b.event(seq))

    def render_row(self, index: int, width: int, style: Style) -> list[Segment]:
        seq = self.seq_at(index)
        if seq is None:
            text = f"  ≡ {self.fold:,} identical events (seq 0–{self.fold - 1}) · enter unfolds"
            return [Segment(fit(text, width), style + DIM)]
        a, b = self.source_a.event(seq), self.source_b.event(seq)
        equal = a is not None and b is not None and a.type == b.type and a.data == b.data
        first = self.diff is not None and self.diff.first is not None and self.diff.first.seq == seq
        sw = self.seq_width
        mark_style = style + (FIRST if first else DIFFERS if not equal else DIM)
        mark = "▶≠" if first else (" ≠" if not equal else "  ")
        half = max(0, (width - len(mark) - sw - 3) // 2)
        return [
            Segment(mark, mark_style),
            Segment(f"{seq:>{sw}} ", mark_style if first else style + DIM),
            *self._side(a, half, style, equal, b),
            Segment("│", style + DIM),
            *self._side(b, width - len(mark) - sw - 2 - half, style, equal, a),
        ]

    @staticmethod
    def _side(ev: Event | None, width: int, style: Style, equal: bool, other: Event | None) -> list[Segment]:
        if ev is None:
            return [Segment(fit(" (no event)", width), style + DIFFERS)]
        size = f" {human_size(len(ev.data)):>8}"
        type_w = max(0, width - len(size) - 1)
        type_differs = other is None or other.type != ev.type
        tstyle = style + (DIFFERS if type_differs else type_style(ev.type))
        sstyle = style + (DIM if equal else DIFFERS)
        return [
            Segment(" " + fit_type(inert_line(ev.type), max(0, type_w - 1)), tstyle),
            Segment(size[: max(0, width - type_w - 1)], sstyle),
        ]
