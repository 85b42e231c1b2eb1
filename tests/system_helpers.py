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


PY_SYSTEM_HANDLERS = SYSTEM_HANDLERS + """
[[handler]]
type = "random"
{seed}

[[handler]]
type = "environment"
"""


def py_system_manifest(folder: Path, actor: str, name: str | None = None, *, seed: int | None = 42,
                       limits: str = "") -> Path:
    """``folder/<name>.toml`` for the componentize-py fixture ``actor`` (built once per
    machine, cached: fixtures/build.py); ``seed=None`` leaves the seed to the run (a
    child's is derived from the run's seed and its id)."""
    import shutil

    from fixtures.build import build_actor

    wasm = folder / f"{actor}.wasm"
    if not wasm.exists():
        shutil.copyfile(build_actor(actor), wasm)
    name = name or actor
    body = f'name = "{name}"\nversion = "0.1.0"\ncomponent = "{wasm.name}"\n'
    if limits:
        body += f"[limits]\n{limits}\n"
    body += PY_SYSTEM_HANDLERS.format(seed="" if seed is None else f"seed = {seed}")
    path = folder / f"{name}.toml"
    path.write_text(body)
    return path
