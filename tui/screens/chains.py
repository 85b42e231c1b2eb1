"""The first screen: every chain in the database."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Header, Input, Static

from theater.errors import UsageError
from theater.store import ChainInfo, Store
from theater.text import inert, inert_line
from verify.integrity import VerifyResult, verify_chain

from ..chain_filter import SORTS, ChainFacts, end_outcome, filter_chains, parse_filter, sort_chains
from ..chain_table import RUNNING, ChainTable, status_text
from ..footer import KeysFooter
from ..messages import Cancelled, VerifyDone, cancellable
from .dialogs import PromptScreen

if TYPE_CHECKING:
    from ..app import TheaterApp


class FilterPrompt(PromptScreen):
    """The filter's prompt: an empty answer clears the filter (escape keeps it)."""

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        event.prevent_default()  # not PromptScreen's handler too (textual calls each class's)
        self.dismiss(event.value.strip())


class ChainsScreen(Screen[None]):
    """The chains table; ``enter`` opens one, ``v`` verifies it, ``d`` diffs it, ``s``
    sorts and ``\\`` filters it (tui/chain_filter.py)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "sort", "Sort", id="sort-chains",
                tooltip="Sort by actor, status, outcome or length, then back to oldest first"),
        Binding("backslash", "filter", "Filter", id="filter-chains", key_display="\\",
                tooltip="Show only the chains matching words (actor:NAME status:TEXT outcome:TEXT)"),
        Binding("v", "verify", "Verify", id="verify-chain",
                tooltip="Recompute every hash of the highlighted chain"),
        Binding("d", "diff", "Diff", id="diff-chains",
                tooltip="Compare the highlighted chain with another, event by event"),
        Binding("R", "open_run", "Run", id="open-run", tooltip="The run of the highlighted chain, as a tree"),
    ]

    DEFAULT_CSS = """
    ChainsScreen #chains-note { color: $text-muted; padding: 0 1; height: 1; }
    ChainsScreen ChainTable { height: 1fr; }
    """

    @property
    def theater(self) -> TheaterApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="chains-note")
        yield ChainTable(id="chains")
        yield KeysFooter()

    #: seconds between re-reads of the table while a chain in it is being recorded
    LIVE_INTERVAL = 1.0

    def on_mount(self) -> None:
        self.live = False
        self.sort_by = SORTS[0]
        self.filter_text = ""
        self.outcomes: dict[str, str] = {}  # end-event outcomes of finished chains (they do not change)
        self.reload()
        self.query_one(ChainTable).focus()
        self.set_interval(self.LIVE_INTERVAL, self.reload_if_live)

    def reload_if_live(self) -> None:
        """Keep lengths, statuses and verified badges current while chains grow."""
        if self.live and self.is_current:
            self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Re-read the chains table from the database."""
        store = self.theater.store
        infos = store.chains()
        self.live = any(i.display_status == "recording" for i in infos)
        replays = store.replay_outcomes()
        outcomes = {i.id: self._outcome(i) for i in infos}
        facts = [ChainFacts(info=i, outcome=outcomes[i.id], status=status_text(i, replays, outcomes)) for i in infos]
        shown = sort_chains(filter_chains(facts, self.filter_text), self.sort_by)
        self.query_one(ChainTable).load([f.info for f in shown], self.theater.verified, replays, outcomes)
        note = f"{len(infos)} chain{'s' if len(infos) != 1 else ''} in {self.theater.db_path.name}"
        if self.filter_text:
            note = f"{len(shown)} of {note} · filter: {inert_line(self.filter_text)}"
        if self.sort_by != SORTS[0]:
            note += f" · sorted by {self.sort_by}"
        self.query_one("#chains-note", Static).update(Text(note if infos else note + " (record one first)"))

    def _outcome(self, info: ChainInfo) -> str:
        known = self.outcomes.get(info.id)
        if known is not None:
            return known
        outcome = end_outcome(self.theater.store, info.id)
        if info.display_status != "recording" and outcome != "-":
            self.outcomes[info.id] = outcome
        return outcome

    # -- sort and filter ----------------------------------------------------------

    def action_sort(self) -> None:
        self.sort_by = SORTS[(SORTS.index(self.sort_by) + 1) % len(SORTS)]
        self.reload()

    def action_filter(self) -> None:
        def done(answer: str | None) -> None:
            if answer is None:  # escape: keep the filter as it was
                return
            try:
                parse_filter(answer)
            except UsageError as e:
                self.notify(str(e), severity="warning", markup=False)
                return
            self.filter_text = answer
            self.reload()

        self.app.push_screen(FilterPrompt("Show chains matching (actor:NAME status:TEXT outcome:TEXT; "
                                          "empty shows all)", placeholder="actor:counter",
                                          value=self.filter_text), done)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.theater.open_chain(event.row_key.value)

    # -- verify -----------------------------------------------------------------

    def action_verify(self) -> None:
        chain_id = self.query_one(ChainTable).highlighted_id
        if chain_id is None:
            return
        self.theater.verified[chain_id] = RUNNING
        self.query_one(ChainTable).set_verified(chain_id, RUNNING)
        self.verify_worker(chain_id)

    @work(thread=True, exclusive=True, group="verify")
    def verify_worker(self, chain_id: str) -> VerifyResult | None:
        """Verify in a thread, on a connection of its own; post the result back."""
        try:
            with Store(self.theater.db_path, create=False) as store:
                result = verify_chain(store, chain_id, progress=cancellable())
        except Cancelled:
            return None
        self.post_message(VerifyDone(result))
        return result

    def on_verify_done(self, message: VerifyDone) -> None:
        result = message.result
        self.theater.verified[result.chain] = result
        self.reload()  # the badge is judged against the chain as it is now (it may have grown)
        summary = inert(result.summary())
        if result.ok:
            self.notify(summary, title="verified", markup=False)
        else:
            self.notify(summary, title="verification failed", severity="error", markup=False)

    # -- diff -------------------------------------------------------------------

    def action_diff(self) -> None:
        chain_id = self.query_one(ChainTable).highlighted_id
        if chain_id is not None:
            self.theater.pick_and_diff(chain_id)

    # -- run (issue 19 item 8) -------------------------------------------------------

    def action_open_run(self) -> None:
        chain_id = self.query_one(ChainTable).highlighted_id
        run = None if chain_id is None else self.theater.run_of_chain(chain_id)
        if run is None:
            self.notify("this chain is not part of a run (a run is made by `theater record`)",
                        severity="warning", markup=False)
        else:
            self.theater.open_run(run)
