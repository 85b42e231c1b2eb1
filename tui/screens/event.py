"""One event, full screen: payload, hex dumps and the raw fields."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Header

from theater.store import ChainInfo
from theater.text import inert_line
from verify.integrity import Problem

from ..data import ChainSource
from ..detail import EventDetail

STEP = Binding.Group("Event", compact=True)


class EventScreen(Screen[int]):
    """The detail of event ``seq``; ``j``/``k`` step to the next and previous event."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "step(1)", "Next", id="event-next", group=STEP, tooltip="Show the next event"),
        Binding("k", "step(-1)", "Previous", id="event-previous", group=STEP,
                tooltip="Show the previous event"),
        Binding("escape", "back", "Back", id="event-back", tooltip="Back to the event list"),
    ]

    DEFAULT_CSS = """
    EventScreen EventDetail { height: 1fr; }
    """

    def __init__(self, info: ChainInfo, source: ChainSource, seq: int, problems: list[Problem]) -> None:
        super().__init__()
        self.info = info
        self.source = source
        self.seq = seq
        self.problems = problems

    def compose(self) -> ComposeResult:
        yield Header()
        yield EventDetail(id="event-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.show()
        self.query_one(EventDetail).focus()

    def show(self) -> None:
        self.sub_title = f"chain {inert_line(self.info.id)} · event {self.seq}"
        here = next((p for p in self.problems if p.seq == self.seq), None)
        self.query_one(EventDetail).show(self.source.event(self.seq), self.seq, here)

    def action_step(self, delta: int) -> None:
        seq = self.seq + delta
        if 0 <= seq < self.source.rows:
            self.seq = seq
            self.show()

    def action_back(self) -> None:
        self.dismiss(self.seq)
