"""Manifests of runs for the tests: the stage.wat actor (fixtures/wat/README.md) under
the runtime, message-server and supervisor handlers."""

from __future__ import annotations

from pathlib import Path

from fixtures.build import wat_path

SYSTEM_HANDLERS = """
[[handler]]
type = "runtime"

[[handler]]
type = "message-server"

[[handler]]
type = "supervisor"
"""


def stage_manifest(folder: Path, name: str, *, limits: str = "", extra: str = "", wat: str = "stage") -> Path:
    """``folder/<name>.toml``: the stage actor as ``name`` (spawned by ``P<name>.toml``)."""
    body = f'name = "{name}"\nversion = "0.1.0"\ncomponent = "{wat_path(wat)}"\n{extra}\n'
    if limits:
        body += f"[limits]\n{limits}\n"
    body += SYSTEM_HANDLERS
    path = folder / f"{name}.toml"
    path.write_text(body)
    return path
