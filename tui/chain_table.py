"""The table of chains in a database (a handful of rows: a DataTable is right here)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from theater.store import ChainInfo, ReplayRecord
from theater.text import inert_line
from verify.integrity import VerifyResult

from .data import chain_status, short_hash, utc
from .virtual_list import JUMP, MOVE, PAGE

RUNNING = "running"
COLUMNS = ("ID", "Actor", "Events", "Head", "Status", "Verified", "Created")


def verified_cell(state: VerifyResult | str | None, info: ChainInfo | None = None) -> Text:
    """The verified column: blank until checked, then ok or the failure class and seq.

    A result holds for the ``(length, head)`` it verified, nothing more. Given the
    chain as it is now (``info``), "ok" is shown only while the chain still has that
    length and head and is not being recorded; otherwise the badge says how far the
    verification reached: "verified through N" (N events), never a stale "ok"."""
    if state is None:
        return Text("not verified", style="dim")
    if isinstance(state, str):
        return Text("checking…", style="yellow")
    if state.problem is None:
        if info is not None and (info.display_status == "recording"
                                 or (info.length, info.head) != (state.events, state.head)):
            return Text(f"verified through {state.events:,}", style="yellow")
        return Text("✓ ok", style="green")
    where = "" if state.problem.seq is None else f" @{state.problem.seq}"
    return Text(f"✗ {inert_line(state.problem.kind)}{where}", style="bold red")


def status_text(info: ChainInfo, replays: tuple[dict[str, ReplayRecord], dict[str, ReplayRecord]],
                outcomes: dict[str, str] | None = None) -> str:
    """The Status column: :func:`~tui.data.chain_status`, and the end event's outcome
    when the run did not complete (``complete · trapped``); what the filter's
    ``status:`` matches."""
    text = chain_status(info.display_status, info.replay_of, replays[0].get(info.id), replays[1].get(info.id))
    outcome = inert_line((outcomes or {}).get(info.id, "-"))
    if outcome not in ("-", "completed") and outcome not in text:
        text += f" · {outcome}"
    return text


class ChainTable(DataTable[Text | str], inherit_bindings=False):
    """One row per chain, keyed by chain id, with the bindings of the browser."""

    HELP = """
## Chains

Every chain in the database: its id, the actor, the number of events, the first hex
digits of the head hash, its status (complete, incomplete, or a replay of another
chain, and how the run ended when it did not complete: `trapped`, `error`, ...), once
checked with `v` whether it verifies, and when it was made. `s` sorts by actor, status, outcome or length (and
back to oldest first); `\\` filters: words that must all match, `actor:NAME`,
`status:TEXT`, `outcome:TEXT` for one column, a bare word for any.
"""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open", id="open-chain", tooltip="Open the highlighted chain"),
        Binding("j,down", "cursor_down", "Down", id="chains-down", group=MOVE),
        Binding("k,up", "cursor_up", "Up", id="chains-up", group=MOVE),
        Binding("g,home", "scroll_top", "First", id="chains-first", group=JUMP),
        Binding("G,end", "scroll_bottom", "Last", id="chains-last", group=JUMP),
        Binding("pageup", "page_up", "Page up", id="chains-page-up", group=PAGE, key_display="PgUp"),
        Binding("pagedown", "page_down", "Page down", id="chains-page-down", group=PAGE,
                key_display="PgDn"),
    ]

    def __init__(self, *, id: str | None = None, created: bool = True) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.columns_shown = COLUMNS if created else COLUMNS[:-1]
        self.infos: dict[str, ChainInfo] = {}

    def on_mount(self) -> None:
        for name in self.columns_shown:
            self.add_column(name, key=name.lower())

    def load(self, infos: list[ChainInfo], verified: dict[str, VerifyResult | str],
             replays: tuple[dict[str, ReplayRecord], dict[str, ReplayRecord]] = ({}, {}),
             outcomes: dict[str, str] | None = None) -> None:
        """Fill the table, keeping the cursor on the same chain when it is still there.

        ``replays`` is ``Store.replay_outcomes()``: the stored outcome of each replay.
        Database text goes in as ``Text`` (a ``str`` cell is parsed as markup) with its
        control characters escaped. ``outcomes`` (chain id to its end event's outcome)
        adds an outcome other than ``completed`` to the status (``complete · trapped``)."""
        current = self.highlighted_id
        self.clear()
        self.infos = {info.id: info for info in infos}
        for info in infos:
            cell: dict[str, Text | str] = {
                "ID": Text(inert_line(info.id)),
                "Actor": Text(inert_line(info.actor)),
                "Events": Text(f"{info.length:,}", justify="right"),
                "Head": short_hash(info.head),
                "Status": Text(status_text(info, replays, outcomes)),
                "Verified": verified_cell(verified.get(info.id), info),
                "Created": utc(info.created),
            }
            self.add_row(*(cell[c] for c in self.columns_shown), key=info.id)
        if current is not None:
            self.select(current)

    def select(self, chain_id: str) -> None:
        """Move the cursor to ``chain_id`` if it is in the table."""
        for index, row in enumerate(self.ordered_rows):
            if row.key.value == chain_id:
                self.move_cursor(row=index, animate=False)
                return

    @property
    def highlighted_id(self) -> str | None:
        """The chain id under the cursor, or None when the table is empty."""
        if not self.row_count:
            return None
        return self.ordered_rows[self.cursor_row].key.value

    def set_verified(self, chain_id: str, state: VerifyResult | str | None) -> None:
        """Update one chain's verified cell."""
        if chain_id in self.rows:
            self.update_cell(chain_id, "verified", verified_cell(state, self.infos.get(chain_id)),
                             update_width=True)
