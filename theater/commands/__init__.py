"""CLI commands, one module per idea. ``register`` adds them all to the group."""

from __future__ import annotations

import importlib

import click

MODULES = ("inspect", "verify")


def register(group: click.Group) -> None:
    for name in MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        for command in module.COMMANDS:
            group.add_command(command)
