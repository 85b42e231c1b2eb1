"""CLI commands, one module per idea, each with a ``COMMANDS`` list.

``register`` discovers every module in this package and adds its commands. Modules
must import heavy dependencies (wasmtime, textual) inside the command function, so
that `theater verify` starts fast and the core never imports textual.
"""

from __future__ import annotations

import importlib
import pkgutil

import click


def modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def register(group: click.Group) -> None:
    for name in modules():
        module = importlib.import_module(f"{__name__}.{name}")
        for command in getattr(module, "COMMANDS", []):
            group.add_command(command)
