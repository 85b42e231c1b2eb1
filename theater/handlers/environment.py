"""The environment handler: wasi:cli/environment from manifest settings.

The host's environment never leaks by default. Settings: ``vars`` (a table of
name = value given to the actor), ``allowed_vars`` (names copied from the host
environment when set there: the values read are recorded), ``args`` (list of
strings), ``cwd`` (string or absent).
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import ManifestError
from . import Handler, LiveFn


class EnvironmentHandler(Handler):
    type = "environment"
    interfaces = {"wasi:cli/environment": ("get-environment", "get-arguments", "initial-cwd")}
    settings_schema = {"vars": dict, "allowed_vars": list, "args": list, "cwd": str}

    def __init__(self, config: Any, manifest: Any) -> None:
        super().__init__(config, manifest)
        s = config.settings
        where = f"{manifest.path}: handler[{config.index}] (environment)"
        env: dict[str, str] = {}
        for k, v in s.get("vars", {}).items():
            if not isinstance(v, str):
                raise ManifestError(f"{where}: `vars.{k}` must be a string, got {type(v).__name__}")
            env[k] = v
        for name in s.get("allowed_vars", []):
            if not isinstance(name, str):
                raise ManifestError(f"{where}: `allowed_vars` must be a list of strings")
            if name in os.environ:
                env[name] = os.environ[name]
        args = s.get("args", [])
        if not all(isinstance(a, str) for a in args):
            raise ManifestError(f"{where}: `args` must be a list of strings")
        self.env = sorted(env.items())
        self.args = list(args)
        self.cwd: str | None = s.get("cwd")

    def functions(self) -> dict[str, dict[str, LiveFn]]:
        return {
            "wasi:cli/environment": {
                "get-environment": lambda store: list(self.env),
                "get-arguments": lambda store: list(self.args),
                "initial-cwd": lambda store: self.cwd,
            }
        }
