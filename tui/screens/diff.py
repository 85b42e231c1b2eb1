"""Two chains side by side, aligned by content: where they part, and how."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Static

from theater.align import AlignKind, Alignment, align_chains
from theater.store import ChainInfo, Store
from theater.text import inert, inert_line
from verify.diff import ChainDiff, EventDiff, compare_rows, diff_chains

from ..data import ChainSource, short_hash
from ..detail import payload_renderable
from ..diff_list import DiffList
from ..footer import KeysFooter
from ..messages import Cancelled, DiffDone, cancellable
from ..virtual_list import VirtualList

if TYPE_CHECKING:
    from ..app import TheaterApp

NAV = Binding.Group("Difference", compact=True)


def _json(value: object, width: int) -> RenderableType:
    if value is None:
        return Text("(no event)", style="red")
    return payload_renderable(value, width=width)  # decoded as the chain screen's detail


class Aligned(Message):
    """The chains' alignment by content is ready (theater/align.py)."""

    def __init__(self, alignment: Alignment) -> None:
        super().__init__()
        self.alignment = alignment


def _label(kind: AlignKind | None, seq_a: int | None, seq_b: int | None, seq: int) -> str:
    if kind is None or seq_a == seq_b:
        return f"seq {seq}"
    if seq_a is None:
        return f"B seq {seq_b}, not in A"
    if seq_b is None:
        return f"A seq {seq_a}, not in B"
    return f"A seq {seq_a} · B seq {seq_b}"


def event_diff_renderable(d: EventDiff, *, kind: AlignKind | None = None, seq_a: int | None = None,
                          seq_b: int | None = None, width: int = 160) -> RenderableType:
    """One aligned pair compared: verdict, the structural differences, both payloads
    (``kind`` and the seqs of each side when the pair comes from an alignment), in a
    pane ``width`` cells wide."""
    head = Text.assemble((f"{_label(kind, seq_a, seq_b, d.seq)}  ", "bold"))
    if d.equal:
        head.append("equal in both chains", style="green")
    elif kind is AlignKind.MISSING:
        head.append("missing: only in A", style="bold yellow")
    elif kind is AlignKind.INSERTED:
        head.append("inserted: only in B", style="bold yellow")
    else:
        head.append("differs", style="bold red")
    lines: list[RenderableType] = [head]
    if not d.equal and kind not in (AlignKind.MISSING, AlignKind.INSERTED):
        for line in d.describe():
            lines.append(Text("  " + inert(line), style="red"))
    table = Table(expand=True, box=None, padding=(0, 1), show_edge=False)
    table.add_column(Text.assemble(("A  ", "bold"), inert_line(d.type_a or "(no event)")), ratio=1,
                     overflow="fold")
    table.add_column(Text.assemble(("B  ", "bold"), inert_line(d.type_b or "(no event)")), ratio=1,
                     overflow="fold")
    column = max(16, (width - 3) // 2)
    table.add_row(_json(d.data_a if d.type_a is not None else None, column),
                  _json(d.data_b if d.type_b is not None else None, column))
    lines.append(table)
    return Group(*lines)


def summary_renderable(diff: ChainDiff, a: ChainInfo, b: ChainInfo, alignment: Alignment | None = None) -> Text:
    """Which chains, whether headers and heads agree, the prefix and the tails, and
    (once computed) what the alignment by content found."""
    t = Text()
    for label, info, n in (("A", a, diff.length_a), ("B", b, diff.length_b)):
        t.append(f"{label} ", style="bold").append(f"{inert_line(info.id)}  {inert_line(info.actor)}  "
                                                   f"{n:,} events  head {short_hash(info.head)}\n")
    if diff.same_header:
        t.append("headers equal", style="green")
    else:
        what = inert("; ".join(x.describe() for x in diff.header_differences[:2]) or "different bytes")
        t.append(f"headers differ ({what})", style="yellow")
    t.append("  ·  head hashes ")
    t.append("equal" if diff.same_head else "differ", style="green" if diff.same_head else "yellow")
    t.append("\n")
    if diff.identical:
        t.append(f"identical: all {diff.common_prefix:,} events have equal type and data", style="bold green")
        return t
    t.append(f"common prefix {diff.common_prefix:,} events  ·  ")
    if diff.first is not None:
        t.append(f"first difference at seq {diff.first.seq}", style="bold red")
    t.append(f"  ·  tails A {diff.tail_a:,}, B {diff.tail_b:,}")
    t.append("\n")
    if alignment is None:
        t.append("aligning by content…", style="dim")
    else:
        counts = alignment.counts
        t.append("aligned by content: ")
        t.append(", ".join(f"{counts[k]:,} {k}" for k in ("changed", "missing", "inserted") if k in counts),
                 style="bold red")
        if alignment.approximate:
            t.append("  (approximate: too many differences, the rest paired by seq)", style="yellow")
    return t


class DiffScreen(Screen[None]):
    """Chain A (expected) against chain B (actual), aligned by content."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "next_difference", "Next", id="next-difference", group=NAV,
                tooltip="Move to the next differing event"),
        Binding("N", "previous_difference", "Previous", id="previous-difference", group=NAV,
                tooltip="Move to the previous differing event"),
        Binding("enter", "unfold", "Unfold", id="unfold", tooltip="Show the folded common prefix"),
        Binding("escape", "back", "Back", id="diff-back", tooltip="Leave the diff"),
    ]

    DEFAULT_CSS = """
    DiffScreen #diff-summary { height: auto; padding: 0 1; background: $boost; }
    DiffScreen DiffList { height: 1fr; }
    DiffScreen #diff-pane { height: 45%; border-top: solid $panel-lighten-2; padding: 0 1; }
    """

    def __init__(self, a: ChainInfo, b: ChainInfo, source_a: ChainSource, source_b: ChainSource) -> None:
        super().__init__()
        self.a, self.b = a, b
        self.source_a, self.source_b = source_a, source_b
        self.diff: ChainDiff | None = None
        self.alignment: Alignment | None = None

    @property
    def theater(self) -> TheaterApp:
        return self.app  # type: ignore[return-value]

    @property
    def rows(self) -> DiffList:
        return self.query_one(DiffList)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text(f"comparing {inert_line(self.a.id)} with {inert_line(self.b.id)}…"), id="diff-summary")
        yield DiffList(self.source_a, self.source_b, id="diff-list")
        with VerticalScroll(id="diff-pane"):
            yield Static(id="diff-detail")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.sub_title = f"diff {inert_line(self.a.id[:8])} · {inert_line(self.b.id[:8])}"
        self.rows.focus()
        self.diff_worker()

    @work(thread=True, exclusive=True, group="diff")
    def diff_worker(self) -> ChainDiff | None:
        """Compare the chains, then align them by content, in a thread, on a connection
        of its own (the alignment of two long chains takes seconds)."""
        try:
            with Store(self.theater.db_path, create=False) as store:
                diff = diff_chains(store, self.a, self.b, progress=cancellable())
                self.post_message(DiffDone(diff))
                alignment = align_chains(store, self.a.id, self.b.id, progress=cancellable())
        except Cancelled:
            return None
        self.post_message(Aligned(alignment))
        return diff

    def _summary(self) -> None:
        if self.diff is not None:
            self.query_one("#diff-summary", Static).update(
                summary_renderable(self.diff, self.a, self.b, self.alignment))

    def on_diff_done(self, message: DiffDone) -> None:
        self.diff = message.diff
        self._summary()

    def on_aligned(self, message: Aligned) -> None:
        self.alignment = message.alignment
        self._summary()
        self.rows.configure(self.alignment)
        first = self.rows.first
        self.rows.move_to(self.rows.index_of_aligned(first if first is not None else 0), center=True)
        if self.alignment.approximate:
            self.notify("the chains differ in too many places for an exact alignment: the rest is paired by seq",
                        severity="warning", markup=False)

    def on_virtual_list_highlighted(self, message: VirtualList.Highlighted) -> None:
        pair = self.rows.pair_at(message.index)
        pane = self.query_one("#diff-detail", Static)
        if pair is None:
            pane.update(Text(f"{self.rows.fold:,} events with equal type and data in both chains "
                             "(enter shows them).", style="green"))
        else:
            kind, sa, sb = pair
            seq = sa if sa is not None else sb if sb is not None else 0
            d = compare_rows(seq, *self.rows.rows_at(message.index))
            width = self.query_one("#diff-pane").scrollable_content_region.width or self.app.size.width
            pane.update(event_diff_renderable(d, kind=kind, seq_a=sa, seq_b=sb, width=width))

    # -- actions ----------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_unfold(self) -> None:
        self.rows.unfold()

    def action_next_difference(self) -> None:
        self._move_difference(True)

    def action_previous_difference(self) -> None:
        self._move_difference(False)

    def _move_difference(self, forward: bool) -> None:
        """Move to the next (or previous) aligned row that differs: the alignment is in
        memory, so this is a lookup, not a scan."""
        if self.alignment is None:
            return
        row = self.rows.current_row()
        found = self.alignment.next_difference(row) if forward else self.alignment.previous_difference(row)
        if found is None:
            self.notify("no further difference" if forward else "no earlier difference",
                        severity="information", markup=False)
        else:
            self.rows.move_to(self.rows.index_of_aligned(found), center=True)
