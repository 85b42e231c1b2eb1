"""Following a link between the chains of a run (issue 19 item 8): from an event that
sends or receives, to the other chain's event, and back.

The links are the ones ``theater verify --run`` checks (``cause``, ``to``, ``stopped``:
verify/links.py's :func:`~verify.links.follow_links`). A sent message's ``to`` names
only the receiver's chain (its event was written later), so the receiving event is
found by its ``cause``, which names the sending event by seq and hash. The screens
push an :class:`~tui.screens.event.EventScreen` of the other event; ``escape`` (or
``L``) pops it, back where the link was followed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from theater.chain import genesis_hash
from theater.links import full_link
from theater.store import Store
from theater.text import inert_line
from verify.links import follow_links

if TYPE_CHECKING:
    from .app import TheaterApp

__all__ = ["LinkTarget", "PickLinkScreen", "follow_link", "link_targets"]


@dataclass(frozen=True, kw_only=True)
class LinkTarget:
    """The other end of a link: event ``seq`` of ``chain`` (whose actor is ``actor``)."""

    chain: str
    seq: int
    actor: str
    type: str

    def label(self) -> Text:
        return Text.assemble((inert_line(self.actor), "bold"), f"  {inert_line(self.chain)}  #{self.seq}  ",
                             (inert_line(self.type), "dim"))


def _receiver_of(store: Store, chain_id: str, seq: int, other: str) -> int | None:
    """The event of ``other`` whose ``cause`` names event ``seq`` of ``chain_id``."""
    ev = store.event(chain_id, seq)
    if ev is None:
        return None
    want = full_link(genesis_hash(bytes(store.chain(chain_id).header)), seq, ev.hash)
    for e in store.events(other):
        if b'"cause":' in e.data:
            payload = e.payload()
            if isinstance(payload, dict) and payload.get("cause") == want:
                return e.seq
    return None


def link_targets(store: Store, chain_id: str, seq: int) -> list[LinkTarget]:
    """Every event event ``seq`` of ``chain_id`` links to in another chain of its run. A
    link that names a whole chain (a spawned child) goes to its first event; a message
    not (yet) received is left out."""
    out: list[LinkTarget] = []
    for other, at in follow_links(store, chain_id, seq):
        if at is None:
            body = store.event(chain_id, seq)
            payload = body.payload() if body is not None else None
            spawn = isinstance(payload, dict) and "actor" in (payload.get("to") or {})
            at = _receiver_of(store, chain_id, seq, other)
            if at is None and spawn:
                at = 0
        if at is None or not store.chain_exists(other):
            continue
        ev = store.event(other, at)
        if ev is not None:
            out.append(LinkTarget(chain=other, seq=at, actor=store.chain(other).actor, type=ev.type))
    return out


class PickLinkScreen(ModalScreen[LinkTarget | None]):
    """Which of an event's links to follow (enter picks, escape cancels)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="link-cancel", tooltip="Close without following a link"),
    ]

    DEFAULT_CSS = """
    PickLinkScreen { align: center middle; }
    PickLinkScreen > #link-box { width: 90%; max-width: 110; height: auto; max-height: 80%;
        border: round $accent; background: $surface; padding: 0 1; }
    PickLinkScreen OptionList { height: auto; max-height: 16; }
    """

    def __init__(self, targets: list[LinkTarget]) -> None:
        super().__init__()
        self.targets = targets

    def compose(self) -> ComposeResult:
        from textual.containers import Vertical

        with Vertical(id="link-box"):
            yield Label("Follow which link? (enter follows, escape cancels)")
            yield OptionList(*(Option(t.label(), id=str(i)) for i, t in enumerate(self.targets)), id="links")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.targets[int(event.option.id or 0)])

    def action_cancel(self) -> None:
        self.dismiss(None)


def open_target(app: TheaterApp, target: LinkTarget) -> None:
    """Push the event screen of ``target`` (escape or ``L`` comes back)."""
    app.open_event(target.chain, target.seq)


def follow_link(app: TheaterApp, chain_id: str, seq: int) -> None:
    """Follow the link of event ``seq`` of ``chain_id`` to the other chain's event (ask
    which when there are several); say so when it links nowhere."""
    targets = link_targets(app.store, chain_id, seq)
    if not targets:
        app.notify(f"event {seq} links to no other chain (only messages, requests, channels, "
                   "spawns and child callbacks of a run do)", severity="warning", markup=False)
    elif len(targets) == 1:
        open_target(app, targets[0])
    else:
        def picked(target: LinkTarget | None) -> None:
            if target is not None:
                open_target(app, target)

        app.push_screen(PickLinkScreen(targets), picked)
