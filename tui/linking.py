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
from theater.errors import TheaterError
from theater.links import full_link
from theater.store import SQLiteError, Store, store_error
from theater.store.search import Pattern, matching_seqs
from theater.text import inert_line
from verify.links import follow_links

if TYPE_CHECKING:
    from .app import TheaterApp

__all__ = ["LinkTarget", "PickLinkScreen", "follow_link", "link_targets", "show_targets"]


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
    """The event of ``other`` whose ``cause`` names event ``seq`` of ``chain_id``: the
    events whose data holds that event's hash are found by one scan in SQLite
    (theater/store/search.py), and only those are decoded to check their ``cause``."""
    ev = store.event(chain_id, seq)
    if ev is None:
        return None
    want = full_link(genesis_hash(bytes(store.chain(chain_id).header)), seq, ev.hash)
    pattern = Pattern(text=ev.hash.hex(), regex=False, ignore_case=False)  # as links write it
    for at in matching_seqs(store, other, grep=pattern):
        e = store.event(other, int(at))
        payload = None if e is None else e.payload()
        if isinstance(payload, dict) and payload.get("cause") == want:
            return int(at)
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
    which when there are several); say so when it links nowhere. The other ends are
    found in a worker thread, on a connection of its own (a sent message's receiver is
    looked for in the receiver's chain), and followed only if the screen ``l`` was
    pressed on is still the one shown."""
    origin = app.screen

    def find() -> None:
        try:
            with Store(app.db_path, create=False) as store:
                targets = link_targets(store, chain_id, seq)
        except TheaterError as e:
            app.call_from_thread(app.notify, str(e), severity="error", markup=False)
            return
        except SQLiteError as e:
            app.call_from_thread(app.notify, str(store_error(e, f"cannot read {app.db_path}")),
                                 severity="error", markup=False)
            return
        app.call_from_thread(found, targets)

    def found(targets: list[LinkTarget]) -> None:
        if app.screen is origin:
            show_targets(app, seq, targets)

    origin.run_worker(find, thread=True, exclusive=True, group="follow-link", name=f"links of {seq}")


def show_targets(app: TheaterApp, seq: int, targets: list[LinkTarget]) -> None:
    """Open the one target, ask which of several, or say that event ``seq`` links nowhere."""
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
