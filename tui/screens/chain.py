"""One chain: the event list beside the selected event's detail (stacked below 100
columns); verify, find and filter by content, the call tree, the noise toggle, go to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Label, ProgressBar, Static

from theater.errors import UsageError
from theater.store import ChainInfo, Store
from theater.text import inert, inert_line
from verify.integrity import Problem, VerifyResult, verify_chain

from ..chain_table import RUNNING, verified_cell
from ..data import ChainSource, Matches, Noise, RowView, build_view, chain_status, find_matches, short_hash
from ..detail import EventDetail, problem_text
from ..event_list import NARROW, EventList
from ..footer import KeysFooter
from ..messages import Cancelled, VerifyDone, VerifyProgress, cancellable
from ..virtual_list import VirtualList
from .dialogs import PromptScreen
from .event import EventScreen

if TYPE_CHECKING:
    from ..app import TheaterApp

FIND = Binding.Group("Find", compact=True)
#: t and y side by side in the footer ("ty Detail"): the chain screen's footer fits 160 columns
DETAIL = Binding.Group("Detail", compact=True)


class ViewReady(Message):
    """A new set of rows (filter, noise, tree) was computed in a worker."""

    def __init__(self, view: RowView, keep_seq: int | None, what: str) -> None:
        super().__init__()
        self.view = view
        self.keep_seq = keep_seq
        self.what = what


class MatchesReady(Message):
    """A search's matches were computed in a worker; ``backwards`` is the step to take."""

    def __init__(self, matches: Matches | None, error: str | None, backwards: bool) -> None:
        super().__init__()
        self.matches = matches
        self.error = error
        self.backwards = backwards


class ChainScreen(Screen[None]):
    """The events of one chain, read on demand, and the detail of the highlighted one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_event", "Open", id="open-event", tooltip="Show the event full screen"),
        Binding("slash", "find", "Find", id="find", group=FIND,
                tooltip="Find text in types, arguments, results, logs and decoded bytes (re: for a regex)"),
        Binding("n", "find_next", "Next", id="find-next", group=FIND, tooltip="Next match"),
        Binding("N", "find_previous", "Previous", id="find-previous", group=FIND,
                tooltip="Previous match"),
        Binding("backslash", "filter", "Filter", id="filter",
                tooltip="Show only the events that match (an empty pattern shows all)"),
        Binding("c", "tree", "Tree", id="tree", tooltip="Nest host calls under the export that made them"),
        Binding("x", "noise", "Noise", id="noise",
                tooltip="Hide noise: every event, then wasi:io hidden, then exports only"),
        Binding("colon", "goto", "Go to", id="goto", tooltip="Move to the event with a given seq"),
        Binding("v", "verify", "Verify", id="verify",
                tooltip="Recompute every hash; land on the first bad event"),
        Binding("d", "diff", "Diff", id="diff", tooltip="Compare this chain with another"),
        Binding("l", "follow_link", "Link", id="follow-link", tooltip="Go to the other chain's event of a link"),
        Binding("escape", "back", "Back", id="back", tooltip="Back to the chains"),
        # the event detail's t and y (tui/detail.py) while the list has the focus
        Binding("t", "detail('cycle_view')", "View", id="chain-detail-view", group=DETAIL,
                tooltip="Show every byte value as text, JSON, hex, or each as it reads (auto)"),
        Binding("y", "detail('copy')", "Copy", id="chain-detail-copy", group=DETAIL,
                tooltip="Copy the hash; again: the event JSON; again: the decoded values"),
    ]

    DEFAULT_CSS = """
    ChainScreen #chain-info { height: 1; padding: 0 1; background: $boost; }
    ChainScreen #problem {
        display: none; height: auto; padding: 0 1;
        background: $error 15%; border-left: thick $error;
    }
    ChainScreen #problem.shown { display: block; }
    ChainScreen #panes { height: 1fr; }
    ChainScreen EventList { width: 1fr; border-right: solid $panel-lighten-2; }
    ChainScreen EventDetail { width: 1fr; }
    ChainScreen.narrow #panes { layout: vertical; }
    ChainScreen.narrow EventList { width: 1fr; height: 1fr; border-right: none;
                                   border-bottom: solid $panel-lighten-2; }
    ChainScreen.narrow EventDetail { width: 1fr; height: 1fr; }
    ChainScreen #find-status { display: none; height: 1; padding: 0 1; background: $boost; }
    ChainScreen #find-status.shown { display: block; }
    ChainScreen #status { display: none; height: 1; padding: 0 1; }
    ChainScreen #status.shown { display: block; }
    ChainScreen #status Label { width: auto; padding-right: 1; }
    """

    def __init__(self, info: ChainInfo, source: ChainSource) -> None:
        super().__init__()
        self.info = info
        self.source = source
        self.search: str | None = None
        self.matches: Matches | None = None
        self.match_at: int | None = None  # the index of the match the cursor is on
        self.filter: str | None = None
        self.filter_seqs: Any = None  # the seqs of the filter's matches (array), None: no filter
        self.noise = Noise.ALL
        self.call_tree = False
        self.result: VerifyResult | None = None

    @property
    def theater(self) -> TheaterApp:
        return self.app  # type: ignore[return-value]

    @property
    def events(self) -> EventList:
        return self.query_one(EventList)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="chain-info")
        yield Static(id="problem")
        with Horizontal(id="panes"):
            yield EventList(self.source, id="events")
            yield EventDetail(id="detail")
        yield Static(id="find-status")
        with Horizontal(id="status"):
            yield Label("verifying", id="status-label")
            yield ProgressBar(total=max(1, self.source.rows), show_eta=False, id="progress")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.apply_width(self.app.size.width)
        self.sub_title = f"chain {inert_line(self.info.id)}"
        state = self.theater.verified.get(self.info.id)
        if isinstance(state, VerifyResult):
            self.apply_result(state, jump=False)
        self.update_info()
        self.show_detail(0)
        self.events.focus()

    def on_resize(self, event: Resize) -> None:
        self.apply_width(event.size.width)

    def apply_width(self, width: int) -> None:
        """Below 100 columns the panes stack and the hash column hides."""
        narrow = width < NARROW
        self.set_class(narrow, "narrow")
        if self.events.narrow != narrow:
            self.events.narrow = narrow
            self.events.refresh()

    def forget_running(self) -> None:
        """Leaving cancels this screen's workers: forget a verification still under way."""
        if self.theater.verified.get(self.info.id) == RUNNING:
            del self.theater.verified[self.info.id]

    def on_unmount(self) -> None:
        self.forget_running()

    def update_info(self) -> None:
        """The one-line summary above the list (the chain re-read: it may be growing)."""
        self.info = self.theater.store.chain(self.info.id)
        i = self.info
        text = Text.assemble(
            (inert_line(i.id), "bold"), f"  {inert_line(i.actor)}  ", f"{self.source.rows:,} events  ",
            chain_status(i.display_status, i.replay_of), f"  head {short_hash(i.head)}  ",
        )
        text.append_text(verified_cell(self.theater.verified.get(i.id), i))
        self.query_one("#chain-info", Static).update(text)

    def problems(self) -> list[Problem]:
        """Every problem the last verification found (the first bad seq first)."""
        if self.result is None or self.result.problem is None:
            return []
        found: list[Problem] = getattr(self.result, "problems", None) or [self.result.problem]
        return found

    def problem_at(self, seq: int) -> Problem | None:
        return next((p for p in self.problems() if p.seq == seq), None)

    def show_detail(self, seq: int) -> None:
        if not self.source.rows:
            self.query_one(EventDetail).show_message("This chain has no events.")
            return
        self.query_one(EventDetail).show(self.source.event(seq), seq, self.problem_at(seq))

    def on_virtual_list_highlighted(self, message: VirtualList.Highlighted) -> None:
        if self.events.row_count:
            self.show_detail(self.events.view.seq(message.index))
        else:
            self.query_one(EventDetail).show_message("No event matches the filter.")

    # -- actions ----------------------------------------------------------------

    def action_detail(self, action: str) -> None:
        """Run an action of the event detail (``t``, ``y``: tui/detail.py)."""
        getattr(self.query_one(EventDetail), f"action_{action}")()

    def action_back(self) -> None:
        self.forget_running()
        self.app.pop_screen()

    def action_open_event(self) -> None:
        seq = self.events.cursor_seq
        if seq is None:
            return

        detail = self.query_one(EventDetail)
        # the view chosen with t here is the event screen's, and the one chosen there comes back
        screen = EventScreen(self.info, self.source, seq, self.problems(), view=detail.view)

        def back(seq: int | None) -> None:
            detail.set_view(screen.view)
            if seq is not None:
                self.move_to_seq(seq)

        self.app.push_screen(screen, back)

    def move_to_seq(self, seq: int, *, center: bool = False) -> bool:
        """Move the cursor to the row of ``seq``; False when the view hides it."""
        row = self.events.view.row_of(seq)
        if row is None:
            return False
        self.events.move_to(row, center=center)
        return True

    def action_goto(self) -> None:
        def go(answer: str | None) -> None:
            if answer is None or not answer.isdigit():
                return
            seq, rows = int(answer), self.source.rows
            if rows == 0:
                self.notify("this chain has no events", severity="warning", markup=False)
                return
            if seq >= rows:
                if not self.move_to_seq(rows - 1, center=True):
                    self.events.move_to(self.events.row_count - 1)
                self.notify(f"the chain has {rows:,} events (seq 0 to {rows - 1:,}): "
                            f"moved to the last one, {rows - 1:,}, not {seq:,}", severity="warning", markup=False)
            elif not self.move_to_seq(seq, center=True):
                row = self.events.view.nearest_row(seq)
                self.events.move_to(row, center=True)
                self.notify(f"event {seq:,} is hidden ({self.view_words()}): moved to "
                            f"{self.events.view.seq(row):,}", severity="warning", markup=False)

        self.app.push_screen(PromptScreen("Go to seq", placeholder="0", restrict=r"[0-9]*"), go)

    # -- find and filter (issue 17 item 3) ---------------------------------------------

    def action_find(self) -> None:
        def find(answer: str | None) -> None:
            if answer:
                self.search = answer
                self.matches = None
                self.find_worker(answer, self.events.view, False)

        self.app.push_screen(
            PromptScreen("Find (text, or re:REGEX; lowercase ignores case)", placeholder="get-random",
                         value=self.search or ""),
            find,
        )

    def action_find_next(self) -> None:
        self.step(backwards=False)

    def action_find_previous(self) -> None:
        self.step(backwards=True)

    def step(self, *, backwards: bool) -> None:
        if self.matches is not None:
            self.show_match(self.matches, backwards)
        elif self.search:
            self.find_worker(self.search, self.events.view, backwards)

    @work(thread=True, exclusive=True, group="find")
    def find_worker(self, text: str, view: RowView, backwards: bool) -> Matches | None:
        """Every match, found in a thread on a connection of its own (one SQL scan)."""
        try:
            with Store(self.theater.db_path, create=False) as store:
                matches = find_matches(store, self.info.id, text, view)
        except UsageError as e:
            self.post_message(MatchesReady(None, str(e), backwards))
            return None
        self.post_message(MatchesReady(matches, None, backwards))
        return matches

    def on_matches_ready(self, message: MatchesReady) -> None:
        if message.matches is None:
            self.notify(message.error or "bad pattern", severity="error", markup=False)
            return
        self.matches = message.matches
        self.show_match(message.matches, message.backwards)

    def show_match(self, matches: Matches, backwards: bool) -> None:
        found = matches.step(self.events.cursor, backwards=backwards)
        what = inert_line(repr(matches.pattern.describe()))
        if found is None:
            self.match_at = None
            self.update_find_status()
            self.notify(f"nothing matches {what}" + (f" ({self.view_words()})" if self.view_hides() else ""),
                        severity="warning", markup=False)
            return
        row, index, wrapped = found
        self.match_at = index
        self.events.move_to(row, center=True)
        self.update_find_status()
        if wrapped:
            where = "the end, from the start" if not backwards else "the start, from the end"
            self.notify(f"search wrapped past {where}: match {index + 1}/{len(matches.rows)}", markup=False)

    def action_filter(self) -> None:
        def apply(answer: str | None) -> None:
            if answer is None and self.filter is None:
                return
            self.filter = answer
            self.rebuild_view("filter " + (repr(answer) if answer else "off"))

        self.app.push_screen(
            PromptScreen("Show only events matching (empty shows all)", placeholder="hello",
                         value=self.filter or ""), apply)

    def action_tree(self) -> None:
        self.call_tree = not self.call_tree
        self.rebuild_view("call tree" if self.call_tree else "flat list")

    def action_noise(self) -> None:
        order = Noise.ORDER
        self.noise = order[(order.index(self.noise) + 1) % len(order)]
        self.rebuild_view(Noise.WORDS[self.noise])

    def rebuild_view(self, what: str) -> None:
        self.matches = None  # rows moved: a search is run again on the new rows
        self.match_at = None
        self.view_worker(self.filter, self.noise, self.call_tree, self.events.cursor_seq, what)

    @work(thread=True, exclusive=True, group="view")
    def view_worker(self, grep: str | None, noise: str, tree: bool, keep_seq: int | None,
                    what: str) -> RowView | None:
        """The rows of a filter, noise mode and tree, in a thread (a full scan of a long chain)."""
        try:
            with Store(self.theater.db_path, create=False) as store:
                only = None
                if grep:
                    only = find_matches(store, self.info.id, grep, RowView(total=self.source.rows)).rows
                view = build_view(store, self.info.id, self.source.rows, noise=noise, tree=tree, only=only)
        except UsageError as e:
            self.post_message(MatchesReady(None, str(e), False))
            return None
        self.post_message(ViewReady(view, keep_seq, what))
        return view

    def on_view_ready(self, message: ViewReady) -> None:
        self.events.set_view(message.view, keep_seq=message.keep_seq)
        seq = self.events.cursor_seq
        if seq is None:
            self.query_one(EventDetail).show_message("No event matches the filter.")
        else:
            self.show_detail(seq)
        self.update_find_status()
        self.notify(f"{message.what}: {message.view.count:,} of {self.source.rows:,} events shown", markup=False)

    def view_hides(self) -> bool:
        return bool(self.filter) or self.noise != Noise.ALL

    def view_words(self) -> str:
        words = []
        if self.filter:
            words.append(f"filter {self.filter!r}")
        if self.noise != Noise.ALL:
            words.append(Noise.WORDS[self.noise])
        if self.call_tree:
            words.append("call tree")
        return ", ".join(words) or "every event"

    def update_find_status(self) -> None:
        """The line above the footer: the search and its match count, the view."""
        bar = self.query_one("#find-status", Static)
        parts = []
        if self.search and self.matches is not None:
            n = len(self.matches.rows)
            at = "-" if self.match_at is None else str(self.match_at + 1)
            parts.append(f"/{self.matches.pattern.describe()}  match {at}/{n:,}")
        if self.view_hides() or self.call_tree:
            parts.append(f"{self.view_words()}: {self.events.row_count:,} of {self.source.rows:,} shown")
        bar.update(Text(inert_line("   ".join(parts))))
        bar.set_class(bool(parts), "shown")

    def action_diff(self) -> None:
        self.theater.pick_and_diff(self.info.id)

    def action_follow_link(self) -> None:
        from ..linking import follow_link  # issue 19 item 8 (tui/linking.py)

        seq = self.events.cursor_seq  # the row's seq: a filter or the noise toggle hides rows
        if seq is not None:
            follow_link(self.theater, self.info.id, seq)

    # -- verify -------------------------------------------------------------------

    def action_verify(self) -> None:
        self.theater.verified[self.info.id] = RUNNING
        self.update_info()
        self.query_one("#progress", ProgressBar).update(total=max(1, self.source.rows), progress=0)
        self.query_one("#status").add_class("shown")
        self.verify_worker()

    @work(thread=True, exclusive=True, group="verify")
    def verify_worker(self) -> VerifyResult | None:
        """Verify on a connection of its own, posting progress; cancellable."""
        chain = self.info.id

        def post(n: int) -> None:
            self.post_message(VerifyProgress(chain, n))

        progress = cancellable(post)
        try:
            with Store(self.theater.db_path, create=False) as store:
                result = verify_chain(store, chain, progress=progress)
        except Cancelled:
            return None
        self.post_message(VerifyDone(result))
        return result

    def on_verify_progress(self, message: VerifyProgress) -> None:
        self.query_one("#progress", ProgressBar).update(progress=message.events)

    def on_verify_done(self, message: VerifyDone) -> None:
        self.query_one("#status").remove_class("shown")
        self.theater.verified[message.result.chain] = message.result
        self.apply_result(message.result, jump=True)
        self.update_info()
        r = message.result
        summary = inert(r.summary())
        if r.ok:
            self.notify(summary, title="verified", markup=False)
        else:
            self.notify(summary, title="verification failed", severity="error", markup=False)

    def apply_result(self, result: VerifyResult, *, jump: bool) -> None:
        """Mark the first bad event (and move to it) or clear the marks."""
        self.result = result
        banner = self.query_one("#problem", Static)
        problem = result.problem
        if problem is None:
            self.events.bad = {}
            banner.remove_class("shown")
            self.events.refresh()
            return
        banner.update(problem_text(problem))
        banner.add_class("shown")
        self.events.bad = {p.seq: str(p.kind) for p in reversed(self.problems()) if p.seq is not None}
        self.events.refresh()
        if jump and problem.seq is not None:
            if not self.move_to_seq(problem.seq, center=True):
                self.notify(f"the first bad event, {problem.seq}, is hidden ({self.view_words()})",
                            severity="warning", markup=False)
            self.events.focus()
