"""The footer every screen shows: Textual's compact :class:`~textual.widgets.Footer`,
built once per set of keys rather than once per focus change (issue: TUI first paint).

Textual's footer rebuilds all its keys whenever the screen's bindings may have changed
(every focus change, every screen pushed or resumed) and each new key then restyles
itself when its ``compact`` watcher adds the ``-compact`` class: about 130 keys built and
restyled one by one before the first chain of a million events is drawn. This footer

- builds its keys with ``-compact`` already set, so mounting them is one styling pass;
- rebuilds only when what it shows changed: the keys, their labels, groups, tooltips
  and whether each is enabled (:meth:`KeysFooter.shown`);
- leaves a screen that is not on top alone until it is resumed (Textual refreshes the
  bindings of a resumed screen, which rebuilds the footer if the keys changed).
"""

from __future__ import annotations

from collections.abc import Hashable

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey  # the class Footer.compose builds its keys with


class KeysFooter(Footer):
    """A compact footer that rebuilds its keys only when they change."""

    def __init__(self) -> None:
        super().__init__(compact=True)
        self.composed_for: Hashable = None

    def shown(self) -> Hashable:
        """What the footer would show now: every shown binding's key, label, group,
        tooltip and state, and the command palette's key."""
        keys = tuple(
            (binding.key, self.app.get_key_display(binding), binding.description, binding.action,
             None if binding.group is None else (binding.group.description, binding.group.compact),
             enabled, tooltip)
            for (_, binding, enabled, tooltip) in self.screen.active_bindings.values()
            if binding.show
        )
        return keys, self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                # compact from the start: its watcher then finds the class there and does nothing
                widget.add_class("-compact", update=False)
            yield widget

    def bindings_changed(self, screen: Screen[object]) -> None:
        if self.is_attached and screen is self.screen and self.app.screen is not screen:
            self._bindings_ready = True
            return  # under another screen: resuming refreshes the bindings again
        super().bindings_changed(screen)

    async def recompose(self) -> None:
        if not self.is_attached:
            return
        shown = self.shown()
        if shown == self.composed_for:
            return
        self.composed_for = shown
        await super().recompose()
