"""Command palette entries for time travel and runs (issues 13 item 4, 19 item 8).

``Fork here`` shows the exact ``theater fork ...`` line that continues the recording
from the current event (and copies it to the clipboard); ``Follow link`` and ``Open
run`` reach the other chains of a run. Hooked into the app by ``TheaterApp.COMMANDS``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

from theater.text import inert, inert_line

from .time_travel import ForkLine, fork_line

if TYPE_CHECKING:
    from .app import TheaterApp

__all__ = ["ForkLineScreen", "TravelCommands", "current_event", "show_fork_line"]


class ForkLineScreen(ModalScreen[None]):
    """The ``theater fork`` line for an event; escape or enter closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter", "close", "Close", id="fork-line-close", tooltip="Close"),
    ]

    DEFAULT_CSS = """
    ForkLineScreen { align: center middle; }
    ForkLineScreen > #fork-box { width: 90%; height: auto; border: round $accent; background: $surface;
        padding: 0 1; }
    ForkLineScreen #fork-line { background: $boost; padding: 0 1; margin: 1 0; }
    ForkLineScreen #fork-note { color: $text-muted; }
    """

    def __init__(self, fork: ForkLine, *, copied: bool) -> None:
        super().__init__()
        self.fork = fork
        self.copied = copied

    def compose(self) -> ComposeResult:
        f = self.fork
        with Vertical(id="fork-box"):
            yield Label(Text(f"Fork chain {inert_line(f.chain)} at event {f.seq}", style="bold"))
            if f.line is not None:
                yield Static(Text(inert(f.line)), id="fork-line")
            yield Static(Text(inert(f.note) + ("\n(copied to the clipboard)" if self.copied else "")),
                         id="fork-note")

    def action_close(self) -> None:
        self.dismiss(None)


def current_event(screen: Screen[object]) -> tuple[str, int] | None:
    """The chain and seq ``screen`` shows: the event screen's event, or the chain
    screen's highlighted row; None elsewhere."""
    from .screens.chain import ChainScreen
    from .screens.event import EventScreen

    if isinstance(screen, EventScreen):
        return screen.info.id, screen.seq
    if isinstance(screen, ChainScreen) and screen.source.rows:
        return screen.info.id, screen.events.cursor
    return None


def show_fork_line(app: TheaterApp, chain_id: str, seq: int) -> ForkLine:
    """Show (and copy) the fork line of event ``seq`` of ``chain_id``."""
    f = fork_line(app.store, app.db_path, chain_id, seq)
    if f.line is not None:
        app.copy_to_clipboard(f.line)
    app.push_screen(ForkLineScreen(f, copied=f.line is not None))
    return f


class TravelCommands(Provider):
    """``Fork here``, ``Follow link`` on an event; ``Open run`` of the chain in view."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app: TheaterApp = self.app  # type: ignore[assignment]
        screen = self.screen  # the screen the palette was opened on
        here = current_event(screen)
        out: list[tuple[str, str, Callable[[], object]]] = []
        if here is not None:
            chain_id, seq = here
            out.append(("Fork here", f"The theater fork line that continues from event {seq}",
                        lambda: show_fork_line(app, chain_id, seq)))

            def follow() -> None:
                from .linking import follow_link

                follow_link(app, chain_id, seq)

            out.append(("Follow link", "Go to the other chain's event this one sends to or received from",
                        follow))
        chain: str | None = here[0] if here is not None else None
        if chain is None:
            from .chain_table import ChainTable
            from .screens.chains import ChainsScreen

            if isinstance(screen, ChainsScreen):
                chain = screen.query_one(ChainTable).highlighted_id
        run = app.run_of_chain(chain) if chain is not None else None
        if run is not None:
            out.append(("Open run", "The supervision tree of this chain's run; v verifies it with its links",
                        lambda: app.open_run(run)))
        return out

    async def discover(self) -> Hits:
        for title, help_, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_)
