"""Small modal dialogs: a one-line prompt, and a chain picker for the diff."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label

from theater.store import ChainInfo
from verify.integrity import VerifyResult

from ..chain_table import ChainTable
from ..footer import KeysFooter

DIALOG_CSS = """
{name} {{
    align: center middle;
    background: $background 60%;
}}
{name} > Vertical {{
    width: {width};
    height: auto;
    max-height: 80%;
    border: round $primary;
    background: $surface;
    padding: 0 1;
}}
{name} > Vertical > Label {{
    width: 100%;
    color: $text-muted;
}}
"""


class PromptScreen(ModalScreen[str | None]):
    """Ask for one line of text; dismisses with the text, or None on escape."""

    DEFAULT_CSS = DIALOG_CSS.format(name="PromptScreen", width=60)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="prompt-cancel", tooltip="Close without answering"),
    ]

    def __init__(self, title: str, *, placeholder: str = "", value: str = "",
                 restrict: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.value = value
        self.restrict = restrict

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.title_text))
            yield Input(value=self.value, placeholder=self.placeholder, restrict=self.restrict,
                        id="prompt-input")
        yield KeysFooter()

    def on_mount(self) -> None:
        entry = self.query_one(Input)
        entry.cursor_blink = getattr(self.app, "cursor_blink", True)
        entry.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PickChainScreen(ModalScreen[str | None]):
    """Pick a chain from the table; dismisses with its id, or None on escape."""

    DEFAULT_CSS = DIALOG_CSS.format(name="PickChainScreen", width="96%") + """
    PickChainScreen ChainTable { height: auto; max-height: 20; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="pick-cancel", tooltip="Close without picking"),
    ]

    def __init__(self, title: str, chains: list[ChainInfo], default: str | None,
                 verified: dict[str, VerifyResult | str]) -> None:
        super().__init__()
        self.title_text = title
        self.chains = chains
        self.default = default
        self.verified = verified

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.title_text))  # it names a chain: never parsed as markup
            yield ChainTable(id="pick-table", created=False)
        yield KeysFooter()

    def on_mount(self) -> None:
        table = self.query_one(ChainTable)
        table.load(self.chains, self.verified)
        if self.default is not None:
            table.select(self.default)
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.dismiss(event.row_key.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


def default_partner(first: ChainInfo, chains: list[ChainInfo]) -> str | None:
    """The chain to diff ``first`` with by default: the chain it replays, else its
    newest replay, else the next other chain."""
    if first.replay_of and any(c.id == first.replay_of for c in chains):
        return first.replay_of
    replays = [c.id for c in chains if c.replay_of == first.id]
    if replays:
        return replays[-1]
    others = [c.id for c in chains if c.id != first.id]
    return others[0] if others else None
