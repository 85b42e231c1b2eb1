"""Helpers for tests that run real components: manifests for WAT fixtures and the
componentize-py example actors (built once per machine, cached outside git)."""

from __future__ import annotations

from pathlib import Path

from fixtures.build import build_actor, wat_path

HANDLERS = """
[[handler]]
type = "runtime"

[[handler]]
type = "random"
seed = {seed}
"""

PY_HANDLERS = HANDLERS + """
[[handler]]
type = "timing"
start_time = 1767225600

[[handler]]
type = "environment"
"""


def wat_manifest(tmp: Path, name: str, *, seed: int = 42, extra: str = "", handlers: str | None = None) -> Path:
    """A manifest for fixtures/wat/<name>.wat in tmp (the component path is absolute);
    ``name`` may name a subfolder (``wasi/stdio``), the actor is named by its stem."""
    stem = Path(name).name
    body = f'name = "{stem}"\nversion = "0.1.0"\ncomponent = "{wat_path(name)}"\n{extra}\n'
    body += (HANDLERS if handlers is None else handlers).format(seed=seed)
    path = tmp / f"{stem}.toml"
    path.write_text(body)
    return path


def py_manifest(tmp: Path, name: str = "example", *, seed: int = 42, copy: bool = True) -> Path:
    """A manifest for a componentize-py actor, its .wasm copied beside it."""
    import shutil

    wasm = build_actor(name)
    target = tmp / f"{name}.wasm"
    if copy and not target.exists():
        shutil.copyfile(wasm, target)
    body = f'name = "{name}"\nversion = "0.1.0"\ncomponent = "{target.name}"\n' + PY_HANDLERS.format(seed=seed)
    path = tmp / f"{name}.toml"
    path.write_text(body)
    return path
