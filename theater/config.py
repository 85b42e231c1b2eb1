"""User settings in ``$XDG_CONFIG_HOME/theater/config.toml`` (normally ``~/.config``).

Today one key is used: ``theme``, the TUI's theme, saved when it is changed (command
palette, "Change theme") and applied when ``theater tui`` starts::

    theme = "nord"

The file is read with :mod:`tomllib`. It is rewritten with the keys it had and the one
changed, written beside it and renamed over it, so a crash never leaves half a file.
Only top-level values that are strings, integers, floats or booleans can be written
back: a file holding anything else (a table, an array) is left as it is and
:func:`save_setting` raises :class:`~theater.errors.UsageError` saying so.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import orjson

from .errors import UsageError

__all__ = ["config_path", "load_config", "save_setting"]


def config_path() -> Path:
    """``$XDG_CONFIG_HOME/theater/config.toml``, else ``~/.config/theater/config.toml``."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "theater" / "config.toml"


def load_config(path: Path | None = None) -> dict[str, Any]:
    """The settings in the config file (``{}`` when there is none). Raises
    :class:`UsageError` for a file that cannot be read or is not TOML."""
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from e
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise UsageError(f"{path} is not a TOML file ({e}); fix or remove it") from e


def _value(key: str, v: Any, path: Path) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return orjson.dumps(v).decode()  # a JSON string is a TOML basic string
    raise UsageError(f"{path} holds {key!r}, which theater cannot write back (a table or an array); "
                     "the setting was not saved")


def save_setting(key: str, value: str | int | float | bool, *, path: Path | None = None) -> Path:
    """Set ``key`` to ``value`` in the config file (made, with its folder, when absent),
    keeping its other keys; returns the file's path."""
    path = path or config_path()
    settings = load_config(path)
    settings[key] = value
    lines = [f"{k} = {_value(k, v, path)}" for k, v in settings.items()
             if k.replace("_", "").replace("-", "").isalnum()]  # a bare TOML key
    if len(lines) != len(settings):
        raise UsageError(f"{path} holds a key theater cannot write back; the setting was not saved")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text("# theater settings (theater/config.py)\n" + "\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {e.strerror}") from e
    return path
