"""One chain: the event list beside the selected event's detail; verify, find, go to."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, Label, ProgressBar, Static

from theater.store import ChainInfo, Store
from theater.text import inert, inert_line
from verify.integrity import Problem, VerifyResult, verify_chain

from ..chain_table import RUNNING, verified_cell
from ..data import ChainSource, chain_status, find_type, short_hash
from ..detail import EventDetail, problem_text
from ..event_list import EventList
from ..messages import Cancelled, SeqFound, VerifyDone, VerifyProgress, cancellable
from ..virtual_list import VirtualList
from .dialogs import PromptScreen
from .event import EventScreen

if TYPE_CHECKING:
    from ..app import TheaterApp

FIND = Binding.Group("Find", compact=True)


class ChainScreen(Screen[None]):
    """The events of one chain, read on demand, and the detail of the highlighted one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_event", "Open", id="open-event", tooltip="Show the event full screen"),
        Binding("slash", "find", "Find type", id="find", group=FIND,
                tooltip="Find the next event whose type contains some text"),
        Binding("n", "find_next", "Next", id="find-next", group=FIND, tooltip="Next match"),
        Binding("N", "find_previous", "Previous", id="find-previous", group=FIND,
                tooltip="Previous match"),
        Binding("colon", "goto", "Go to seq", id="goto", tooltip="Move to the event with a given seq"),
        Binding("v", "verify", "Verify", id="verify",
                tooltip="Recompute every hash; land on the first bad event"),
        Binding("d", "diff", "Diff", id="diff", tooltip="Compare this chain with another"),
        Binding("l", "follow_link", "Link", id="follow-link", tooltip="Go to the other chain's event of a link"),
        Binding("escape", "back", "Back", id="back", tooltip="Back to the chains"),
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
    ChainScreen #status { display: none; height: 1; padding: 0 1; }
    ChainScreen #status.shown { display: block; }
    ChainScreen #status Label { width: auto; padding-right: 1; }
    """

    def __init__(self, info: ChainInfo, source: ChainSource) -> None:
        super().__init__()
        self.info = info
        self.source = source
        self.search: str | None = None
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
        with Horizontal(id="status"):
            yield Label("verifying", id="status-label")
            yield ProgressBar(total=max(1, self.source.rows), show_eta=False, id="progress")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = f"chain {inert_line(self.info.id)}"
        state = self.theater.verified.get(self.info.id)
        if isinstance(state, VerifyResult):
            self.apply_result(state, jump=False)
        self.update_info()
        self.show_detail(0)
        self.events.focus()

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
        self.show_detail(message.index)

    # -- actions ----------------------------------------------------------------

    def action_back(self) -> None:
        self.forget_running()
        self.app.pop_screen()

    def action_open_event(self) -> None:
        def back(seq: int | None) -> None:
            if seq is not None:
                self.events.move_to(seq)

        self.app.push_screen(EventScreen(self.info, self.source, self.events.cursor, self.problems()), back)

    def action_goto(self) -> None:
        def go(answer: str | None) -> None:
            if answer is not None and answer.isdigit():
                self.events.move_to(int(answer), center=True)

        self.app.push_screen(PromptScreen("Go to seq", placeholder="0", restrict=r"[0-9]*"), go)

    def action_find(self) -> None:
        def find(answer: str | None) -> None:
            if answer:
                self.search = answer
                self.find_worker(answer, self.events.cursor, False)

        self.app.push_screen(
            PromptScreen("Find event type containing", placeholder="get-random", value=self.search or ""),
            find,
        )

    def action_find_next(self) -> None:
        if self.search:
            self.find_worker(self.search, self.events.cursor, False)

    def action_find_previous(self) -> None:
        if self.search:
            self.find_worker(self.search, self.events.cursor, True)

    def action_diff(self) -> None:
        self.theater.pick_and_diff(self.info.id)

    def action_follow_link(self) -> None:
        from ..linking import follow_link  # issue 19 item 8 (tui/linking.py)

        follow_link(self.theater, self.info.id, self.events.cursor)

    @work(thread=True, exclusive=True, group="find")
    def find_worker(self, text: str, start: int, backwards: bool) -> int | None:
        """Search the types in a thread (a full scan of a long chain takes a moment)."""
        with Store(self.theater.db_path, create=False) as store:
            seq = find_type(store, self.info.id, text, start, backwards=backwards)
        self.post_message(SeqFound(seq, f"no event type contains {inert_line(repr(text))}"))
        return seq

    def on_seq_found(self, message: SeqFound) -> None:
        if message.seq is None:
            self.notify(message.what, severity="warning", markup=False)
        else:
            self.events.move_to(message.seq, center=True)

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
            self.events.move_to(problem.seq, center=True)
            self.events.focus()
