"""Text that came from an actor or a database, made inert before it is shown.

An actor's log lines, its name, event types, init params, error texts and checkpoint
origins are data written by someone else. Printed as they are, an ESC sequence clears
the screen, retitles the window, or writes the clipboard (OSC 52); a ``\\r`` overwrites
the line that was printed before it. :func:`inert` escapes every control character
except newline and tab as a visible ``\\xNN`` (``\\x1b``), ``\\uNNNN`` for the C1
controls and the Unicode bidirectional overrides (which can reorder what a reader
sees), so what reaches the terminal is only printable text. The TUI also needs its
text kept out of Rich's markup parser (see ``tui/``); this module stays dependency-free
so every command can use it.
"""

from __future__ import annotations

import re

# C0 controls but tab (0x09) and newline (0x0a), DEL, the C1 controls, and the
# bidirectional embedding/override/isolate characters (trojan-source reordering).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# the same and newline and tab: for one-line fields (a table cell, a type, a name)
_CONTROL_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c <= 0xFF else f"\\u{c:04x}"


def inert(s: object) -> str:
    """``s`` (made a ``str``) with every control character but newline and tab escaped
    as ``\\xNN``."""
    return _CONTROL.sub(_escape, s if isinstance(s, str) else str(s))


def inert_line(s: object) -> str:
    """Like :func:`inert`, escaping newline and tab as well: for a value that must stay
    on one line (a table cell, an actor name, an event type)."""
    return _CONTROL_LINE.sub(_escape, s if isinstance(s, str) else str(s))


def human_size(n: int) -> str:
    """A byte count for a narrow column or a sentence: ``812 B``, ``12.5 KB``, ``3.0 MB``."""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"
