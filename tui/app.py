"""The theater chain browser: chains, events, verification and diffs in a terminal.

::

    TheaterApp(db_path, chain=None)
    ├── ChainsScreen            every chain; enter opens, v verifies, d diffs
    │   └── ChainScreen         events (virtual list) beside the selected event's detail
    │       └── EventScreen     one event full screen (an export call's state diff)
    ├── RunScreen               a run's supervision tree; v verifies it with its links
    └── DiffScreen              two chains aligned by content, the prefix folded

The app owns the main-thread :class:`~theater.store.Store`; workers open their own
connection to the same file (SQLite connections stay in the thread that made them).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.markup import escape
from textual.notifications import SeverityLevel
from textual.screen import Screen

from theater.config import load_config, save_setting
from theater.errors import UsageError
from theater.store import Store
from theater.store.runs import resolve_run, run_of
from theater.text import inert_line
from verify.integrity import VerifyResult

from .commands import TravelCommands
from .data import ChainSource
from .screens.chain import ChainScreen
from .screens.chains import ChainsScreen
from .screens.dialogs import PickChainScreen, default_partner
from .screens.diff import DiffScreen
from .screens.event import EventScreen
from .screens.run import RunScreen


class TheaterApp(App[None]):
    """Browse the chains of one database. ``chain`` opens that chain at once."""

    TITLE = "theater"
    COMMANDS = App.COMMANDS | {TravelCommands}

    # a compact footer puts a group's label against the next key ("Pagev Verify",
    # "Eventesc Back"): a space after every label, on every screen (issue 17 item 4)
    CSS = """
    Footer.-compact FooterLabel { margin: 0 1 0 0; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="quit", tooltip="Leave theater"),
        Binding("f1", "toggle_help", "Help", id="help", tooltip="Show or hide the keys and help"),
        Binding("ctrl+p", "command_palette", "Commands", id="command-palette", show=False,
                priority=True, tooltip="Open the command palette"),
    ]

    def __init__(self, db_path: str | os.PathLike[str], chain: str | None = None, *,
                 cursor_blink: bool = True, run: str | None = None) -> None:
        super().__init__()
        self.db_path = Path(db_path)
        self.store = Store(self.db_path, create=False)
        self.initial_chain = None if chain is None else self.store.resolve(chain).id
        self.initial_run = None if run is None else resolve_run(self.store, run).id
        self.cursor_blink = cursor_blink
        self.verified: dict[str, VerifyResult | str] = {}
        self.sub_title = self.db_path.name

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """A toast that replaces the one shown before, instead of stacking on it
        (every screen's ``notify`` comes here; issue 17 item 4)."""
        self.clear_notifications()
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def get_default_screen(self) -> Screen[None]:
        return ChainsScreen()

    def on_mount(self) -> None:
        self.remember_theme()
        if self.initial_chain is not None:
            self.open_chain(self.initial_chain)
        if self.initial_run is not None:
            self.open_run(self.initial_run)

    def remember_theme(self) -> None:
        """Apply the theme saved in the config file (theater/config.py) and save it
        whenever it changes (command palette, "Change theme")."""
        try:
            saved = load_config().get("theme")
        except UsageError as e:
            self.notify(str(e), severity="warning", markup=False)
            return
        if isinstance(saved, str) and saved in self.available_themes:
            self.theme = saved
        last = [saved]

        def save(theme: object) -> None:
            if self.theme != last[0]:
                try:
                    save_setting("theme", self.theme)
                except UsageError as e:
                    self.notify(str(e), severity="warning", markup=False)
                else:
                    last[0] = self.theme

        self.theme_changed_signal.subscribe(self, save)

    def on_unmount(self) -> None:
        self.store.close()

    # -- navigation -------------------------------------------------------------

    def source(self, chain_id: str) -> ChainSource:
        """A fresh on-demand reader of one chain (main thread)."""
        return ChainSource(self.store, chain_id)

    def open_chain(self, chain_id: str) -> ChainScreen:
        """Push the screen of one chain."""
        screen = ChainScreen(self.store.chain(chain_id), self.source(chain_id))
        self.push_screen(screen)
        return screen

    def open_run(self, run_id: str) -> RunScreen:
        """Push the run view of run ``run_id``."""
        screen = RunScreen(resolve_run(self.store, run_id))
        self.push_screen(screen)
        return screen

    def run_of_chain(self, chain_id: str) -> str | None:
        """The id of the run ``chain_id`` belongs to, or None."""
        entry = run_of(self.store).get(chain_id)
        return None if entry is None else entry.run

    def open_event(self, chain_id: str, seq: int) -> EventScreen:
        """Push the event screen of event ``seq`` of ``chain_id`` (escape comes back)."""
        screen = EventScreen(self.store.chain(chain_id), self.source(chain_id), seq, [], linked=True)
        self.push_screen(screen)
        return screen

    def open_diff(self, a: str, b: str) -> DiffScreen:
        """Push the diff of chain ``a`` (expected) with chain ``b`` (actual)."""
        ia, ib = self.store.chain(a), self.store.chain(b)
        if ib.id == ia.replay_of:
            ia, ib = ib, ia  # the recording is the expected side, its replay the actual one
        screen = DiffScreen(ia, ib, self.source(ia.id), self.source(ib.id))
        self.push_screen(screen)
        return screen

    def pick_and_diff(self, first: str) -> None:
        """Ask for the chain to compare ``first`` with (defaulting to its replay link)."""
        chains = self.store.chains()
        info = next((c for c in chains if c.id == first), None)
        if info is None:
            return
        if len(chains) < 2:
            self.notify("there is no other chain to compare with", severity="warning", markup=False)
            return

        def picked(second: str | None) -> None:
            if second == first:
                self.notify("pick a chain other than the first", severity="warning", markup=False)
            elif second is not None:
                self.open_diff(first, second)

        title = f"Diff {inert_line(first)} with which chain? (enter picks, escape cancels)"
        self.push_screen(PickChainScreen(title, chains, default_partner(info, chains), self.verified),
                         picked)

    def action_toggle_help(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    # -- command palette ------------------------------------------------------------

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if isinstance(screen, ChainScreen):
            yield SystemCommand("Verify this chain", "Recompute every hash", screen.action_verify)
            yield SystemCommand("Go to seq", "Move to an event by seq", screen.action_goto)
            yield SystemCommand("Find", "Search types, arguments, results, logs and bytes", screen.action_find)
            yield SystemCommand("Filter", "Show only the events that match", screen.action_filter)
            yield SystemCommand("Call tree", "Nest host calls under their export", screen.action_tree)
            yield SystemCommand("Hide noise", "Every event, wasi:io hidden, exports only", screen.action_noise)
            yield SystemCommand("Diff this chain", "Compare with another chain", screen.action_diff)
            yield SystemCommand("Go to start", "The first event", screen.events.action_first)
            yield SystemCommand("Go to end", "The last event", screen.events.action_last)
        if isinstance(screen, DiffScreen):
            yield SystemCommand("Next difference", "Move to the next differing event",
                                screen.action_next_difference)
            yield SystemCommand("Previous difference", "Move to the previous differing event",
                                screen.action_previous_difference)
        for info in self.store.chains():
            # the palette parses titles and help as markup: database text is escaped
            yield SystemCommand(
                escape(f"Open chain {inert_line(info.id)}"),
                escape(f"{inert_line(info.actor)}, {info.length:,} events, {inert_line(info.display_status)}"),
                lambda chain_id=info.id: self.open_chain(chain_id),
            )
