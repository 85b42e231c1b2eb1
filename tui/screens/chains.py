"""The first screen: every chain in the database."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from theater.store import Store
from verify.integrity import VerifyResult, verify_chain

from ..chain_table import RUNNING, ChainTable
from ..messages import Cancelled, VerifyDone, cancellable

if TYPE_CHECKING:
    from ..app import TheaterApp


class ChainsScreen(Screen[None]):
    """The chains table; ``enter`` opens one, ``v`` verifies it, ``d`` diffs it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("v", "verify", "Verify", id="verify-chain",
                tooltip="Recompute every hash of the highlighted chain"),
        Binding("d", "diff", "Diff", id="diff-chains",
                tooltip="Compare the highlighted chain with another, event by event"),
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
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.reload()
        self.query_one(ChainTable).focus()

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Re-read the chains table from the database."""
        infos = self.theater.store.chains()
        self.query_one(ChainTable).load(infos, self.theater.verified, self.theater.store.replay_outcomes())
        note = f"{len(infos)} chain{'s' if len(infos) != 1 else ''} in {self.theater.db_path.name}"
        self.query_one("#chains-note", Static).update(note if infos else note + " (record one first)")

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
        self.query_one(ChainTable).set_verified(result.chain, result)
        if result.ok:
            self.notify(result.summary(), title="verified")
        else:
            self.notify(result.summary(), title="verification failed", severity="error")

    # -- diff -------------------------------------------------------------------

    def action_diff(self) -> None:
        chain_id = self.query_one(ChainTable).highlighted_id
        if chain_id is not None:
            self.theater.pick_and_diff(chain_id)

