"""A virtual list: a cursor over rows that are rendered only when they are on screen.

Like toolong's log view: a :class:`~textual.scroll_view.ScrollView` whose
``virtual_size`` is the number of rows and whose ``render_line`` asks the subclass for
the one row at ``scroll_y + y``. Scrolling a million rows costs what the visible
rows cost. Subclasses implement :meth:`VirtualList.render_row`.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

MOVE = Binding.Group("Move", compact=True)
JUMP = Binding.Group("Start/End", compact=True)
PAGE = Binding.Group("Page")


class VirtualList(ScrollView, can_focus=True, inherit_bindings=False):
    """A focusable list of ``row_count`` rows with a cursor, rendered on demand."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j,down", "cursor_down", "Down", id="cursor-down", group=MOVE,
                tooltip="Move the cursor down one row"),
        Binding("k,up", "cursor_up", "Up", id="cursor-up", group=MOVE,
                tooltip="Move the cursor up one row"),
        Binding("g,home", "first", "Start", id="first", group=JUMP,
                tooltip="Jump to the first row"),
        Binding("G,end", "last", "End", id="last", group=JUMP,
                tooltip="Jump to the last row"),
        Binding("pageup", "page_up", "Page up", id="page-up", group=PAGE, key_display="PgUp",
                tooltip="Move the cursor up one page"),
        Binding("pagedown", "page_down", "Page down", id="page-down", group=PAGE, key_display="PgDn",
                tooltip="Move the cursor down one page"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {"virtual-list--cursor"}

    DEFAULT_CSS = """
    VirtualList {
        overflow-x: hidden;
        overflow-y: scroll;
        scrollbar-size-vertical: 1;
    }
    VirtualList > .virtual-list--cursor {
        background: $primary 40%;
    }
    VirtualList:focus > .virtual-list--cursor {
        background: $primary;
        color: $text;
        text-style: bold;
    }
    """

    class Highlighted(Message):
        """The cursor moved to ``index``."""

        def __init__(self, virtual_list: VirtualList, index: int) -> None:
            super().__init__()
            self.virtual_list = virtual_list
            self.index = index

        @property
        def control(self) -> VirtualList:
            return self.virtual_list

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.cursor = 0
        self.row_count = 0

    # -- what subclasses provide ---------------------------------------------

    def render_row(self, index: int, width: int, style: Style) -> list[Segment]:
        """Segments for row ``index`` (``style`` is the base style; the cursor row's is
        already applied). Subclasses override this."""
        return [Segment(str(index), style)]

    # -- rows and cursor -------------------------------------------------------

    def set_row_count(self, count: int) -> None:
        """Set the number of rows; keeps the cursor inside."""
        self.row_count = count
        self.virtual_size = Size(0, count)
        if self.cursor >= count:
            self.move_to(max(0, count - 1))
        self.refresh()

    @property
    def page_height(self) -> int:
        return max(1, self.scrollable_content_region.height)

    def move_to(self, index: int, *, center: bool = False) -> None:
        """Move the cursor to ``index`` (clamped), scroll it into view, announce it."""
        index = max(0, min(index, self.row_count - 1)) if self.row_count else 0
        old, self.cursor = self.cursor, index
        self._scroll_to_cursor(center=center)
        self.refresh_line(old)
        self.refresh_line(index)
        self.post_message(self.Highlighted(self, index))

    def _scroll_to_cursor(self, *, center: bool = False) -> None:
        height = self.page_height
        top = round(self.scroll_offset.y)
        if center and not top <= self.cursor < top + height:
            self.scroll_to(y=max(0, self.cursor - height // 2), animate=False, immediate=True)
        elif self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def action_cursor_down(self) -> None:
        self.move_to(self.cursor + 1)

    def action_cursor_up(self) -> None:
        self.move_to(self.cursor - 1)

    def action_first(self) -> None:
        self.move_to(0)

    def action_last(self) -> None:
        self.move_to(self.row_count - 1)

    def action_page_down(self) -> None:
        self.move_to(self.cursor + self.page_height)

    def action_page_up(self) -> None:
        self.move_to(self.cursor - self.page_height)

    def on_resize(self, event: events.Resize) -> None:
        self._scroll_to_cursor()

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is not None:
            self.move_to(round(self.scroll_offset.y) + offset.y)

    # -- the Line API -------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        index = round(self.scroll_offset.y) + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if index >= self.row_count:
            return Strip.blank(width, base)
        style = base
        if index == self.cursor:
            style = base + self.get_component_rich_style("virtual-list--cursor")
        strip = Strip(self.render_row(index, width, style))
        return strip.adjust_cell_length(width, style)
