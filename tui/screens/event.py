"""One event, full screen: payload, hex dumps and the raw fields; for an export call,
the actor's state before and after it with a structural diff (issue 13 item 4)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Static

from theater.decode import View
from theater.store import ChainInfo
from theater.text import inert_line
from verify.integrity import Problem

from ..data import ChainSource
from ..detail import EventDetail
from ..footer import KeysFooter
from ..time_travel import StateChange, next_export, state_change, state_renderable

if TYPE_CHECKING:
    from ..app import TheaterApp

STEP = Binding.Group("Event", compact=True)
TRAVEL = Binding.Group("Call", compact=True)  # [ ] the previous and next export call


class StatePane(VerticalScroll, can_focus=True):
    """What an export call changed in the state, and the state before and after (hidden
    for other events; tab focuses it to scroll)."""

    DEFAULT_CSS = """
    StatePane { display: none; height: auto; max-height: 45%; padding: 0 1;
        border-bottom: solid $panel-lighten-2; scrollbar-size-vertical: 1; }
    StatePane.shown { display: block; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.change: StateChange | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="state-body")

    def show(self, change: StateChange | None) -> None:
        self.change = change
        self.set_class(change is not None, "shown")
        self._render_change()
        self.scroll_home(animate=False)

    def _render_change(self) -> None:
        if self.change is not None:
            width = self.scrollable_content_region.width or self.app.size.width - 2
            self.query_one("#state-body", Static).update(state_renderable(self.change, width=width))

    def on_resize(self) -> None:
        self._render_change()


class EventScreen(Screen[int]):
    """The detail of event ``seq``; ``j``/``k`` step to the next and previous event,
    ``[``/``]`` to the previous and next export call, ``l`` follows a link to another
    chain of the run. ``linked``: this screen was opened by following a link (``L`` or
    escape goes back to where it was followed)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "step(1)", "Next", id="event-next", group=STEP, tooltip="Show the next event"),
        Binding("k", "step(-1)", "Previous", id="event-previous", group=STEP,
                tooltip="Show the previous event"),
        Binding("left_square_bracket", "step_export(-1)", "Previous call", id="event-previous-export", group=TRAVEL,
                key_display="[", tooltip="Show the previous export call and the state it left"),
        Binding("right_square_bracket", "step_export(1)", "Next call", id="event-next-export", group=TRAVEL,
                key_display="]", tooltip="Show the next export call and the state it left"),
        Binding("l", "follow_link", "Link", id="event-follow-link",
                tooltip="Go to the other chain's event this one sends to or received from"),
        Binding("escape,L", "back", "Back", id="event-back",
                tooltip="Back to the event list, or to where a link was followed (L)"),
    ]

    DEFAULT_CSS = """
    EventScreen EventDetail { height: 1fr; }
    """

    def __init__(self, info: ChainInfo, source: ChainSource, seq: int, problems: list[Problem], *,
                 linked: bool = False, view: View = View.AUTO) -> None:
        super().__init__()
        self.info = info
        self.source = source
        self.seq = seq
        self.problems = problems
        self.linked = linked
        self.view = view  # how byte values are shown (t): the detail's it was opened from, then its own

    @property
    def theater(self) -> TheaterApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header()
        yield StatePane(id="state")
        yield EventDetail(id="event-detail")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one(EventDetail).view = self.view
        self.show()
        self.query_one(EventDetail).focus()

    def show(self) -> None:
        actor = f"{inert_line(self.info.actor)} · " if self.linked else ""
        self.sub_title = f"{actor}chain {inert_line(self.info.id)} · event {self.seq}"
        here = next((p for p in self.problems if p.seq == self.seq), None)
        ev = self.source.event(self.seq)
        self.query_one(StatePane).show(state_change(ev))
        self.query_one(EventDetail).show(ev, self.seq, here)

    def action_step(self, delta: int) -> None:
        seq = self.seq + delta
        if 0 <= seq < self.source.rows:
            self.seq = seq
            self.show()

    def action_step_export(self, delta: int) -> None:
        seq = next_export(self.source.store, self.info.id, self.seq, backwards=delta < 0)
        if seq is None:
            where = "before" if delta < 0 else "after"
            self.notify(f"no export call {where} event {self.seq}", severity="warning", markup=False)
        else:
            self.seq = seq
            self.show()

    def action_follow_link(self) -> None:
        from ..linking import follow_link

        follow_link(self.theater, self.info.id, self.seq)

    def action_back(self) -> None:
        self.view = self.query_one(EventDetail).view  # for the screen it goes back to
        self.dismiss(self.seq)
