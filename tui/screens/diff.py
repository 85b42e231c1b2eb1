"""Two chains side by side: where they part, and how."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from theater.store import ChainInfo, Store
from theater.text import inert, inert_line
from verify.diff import ChainDiff, EventDiff, compare_rows, diff_chains, next_difference, previous_difference

from ..data import ChainSource, short_hash
from ..detail import json_renderable
from ..diff_list import DiffList
from ..messages import Cancelled, DiffDone, SeqFound, cancellable
from ..virtual_list import VirtualList

if TYPE_CHECKING:
    from ..app import TheaterApp

NAV = Binding.Group("Difference", compact=True)


def _json(value: object) -> RenderableType:
    if value is None:
        return Text("(no event)", style="red")
    return json_renderable(value)


def event_diff_renderable(d: EventDiff) -> RenderableType:
    """One seq compared: verdict, the structural differences, both payloads."""
    head = Text.assemble((f"seq {d.seq}  ", "bold"))
    if d.equal:
        head.append("equal in both chains", style="green")
    else:
        head.append("differs", style="bold red")
    lines: list[RenderableType] = [head]
    if not d.equal:
        for line in d.describe():
            lines.append(Text("  " + inert(line), style="red"))
    table = Table(expand=True, box=None, padding=(0, 1), show_edge=False)
    table.add_column(Text.assemble(("A  ", "bold"), inert_line(d.type_a or "(no event)")), ratio=1,
                     overflow="fold")
    table.add_column(Text.assemble(("B  ", "bold"), inert_line(d.type_b or "(no event)")), ratio=1,
                     overflow="fold")
    table.add_row(_json(d.data_a if d.type_a is not None else None),
                  _json(d.data_b if d.type_b is not None else None))
    lines.append(table)
    return Group(*lines)


def summary_renderable(diff: ChainDiff, a: ChainInfo, b: ChainInfo) -> Text:
    """Which chains, whether headers and heads agree, the prefix and the tails."""
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
    return t


class DiffScreen(Screen[None]):
    """Chain A (expected) against chain B (actual), aligned by seq."""

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
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = f"diff {inert_line(self.a.id[:8])} · {inert_line(self.b.id[:8])}"
        self.rows.focus()
        self.diff_worker()

    @work(thread=True, exclusive=True, group="diff")
    def diff_worker(self) -> ChainDiff | None:
        """Compare the chains in a thread, on a connection of its own."""
        try:
            with Store(self.theater.db_path, create=False) as store:
                diff = diff_chains(store, self.a, self.b, progress=cancellable())
        except Cancelled:
            return None
        self.post_message(DiffDone(diff))
        return diff

    def on_diff_done(self, message: DiffDone) -> None:
        self.diff = message.diff
        self.query_one("#diff-summary", Static).update(summary_renderable(self.diff, self.a, self.b))
        self.rows.configure(self.diff)
        target = self.diff.first.seq if self.diff.first is not None else 0
        self.rows.move_to(self.rows.index_of(target), center=True)

    def on_virtual_list_highlighted(self, message: VirtualList.Highlighted) -> None:
        seq = self.rows.seq_at(message.index)
        pane = self.query_one("#diff-detail", Static)
        if seq is None:
            pane.update(Text(f"{self.rows.fold:,} events with equal type and data in both chains "
                             "(enter shows them).", style="green"))
        else:
            pane.update(event_diff_renderable(compare_rows(seq, *self.rows.rows_at(seq))))

    # -- actions ----------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_unfold(self) -> None:
        self.rows.unfold()

    def action_next_difference(self) -> None:
        if self.diff is not None:
            self.nav_worker(self.rows.current_seq(), True)

    def action_previous_difference(self) -> None:
        if self.diff is not None:
            self.nav_worker(self.rows.current_seq(), False)

    @work(thread=True, exclusive=True, group="diff-nav")
    def nav_worker(self, seq: int, forward: bool) -> int | None:
        """Find the next or previous differing seq in a thread (it may be far)."""
        assert self.diff is not None
        progress = cancellable()
        try:
            with Store(self.theater.db_path, create=False) as store:
                if forward:
                    found = next_difference(store, self.a.id, self.b.id, seq, progress=progress)
                else:
                    found = previous_difference(store, self.a.id, self.b.id, seq,
                                                floor=self.diff.common_prefix, progress=progress)
        except Cancelled:
            return None
        self.post_message(SeqFound(found, "no further difference" if forward else "no earlier difference"))
        return found

    def on_seq_found(self, message: SeqFound) -> None:
        if message.seq is None:
            self.notify(message.what, severity="information", markup=False)
        else:
            self.rows.move_to(self.rows.index_of(message.seq), center=True)
