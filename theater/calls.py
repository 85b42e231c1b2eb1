"""Export calls beyond theater:simple: ``theater record --call IFACE#FUNC ARGS-JSON``
and a manifest's ``[[call]]`` tables.

A call names an exported function by interface (any version) and function, and its
arguments in canonical JSON (docs/chain-format.md's value forms: ``list<u8>`` as
``"base64:..."``, records as objects, ...), either as an array (positional) or as an
object keyed by parameter name. A resource the actor defines is named by its stable
id, ``{"resource": N}``: the N-th handle the actor returned in this run (0, 1, ...),
which is how the chain records it too, so a replay passes the same handle.

```toml
[[call]]
export = "example:counters/counters#[constructor]counter"
args = "[5]"                      # JSON text (TOML has no null), or a TOML array/table
```

The call's result is recorded with the export event and not interpreted: the actor's
theater:simple state is not threaded through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from .errors import ManifestError, UsageError


@dataclass(frozen=True, kw_only=True)
class Call:
    """One export call: ``interface`` (without version), ``function``, and ``args``
    (canonical JSON: a list, positional, or an object by parameter name)."""

    interface: str
    function: str
    args: Any

    @property
    def name(self) -> str:
        return f"{self.interface}#{self.function}"

    def named_args(self, param_names: tuple[str, ...]) -> dict[str, Any]:
        """The arguments as ``{param name: json}``; raises :class:`UsageError`."""
        args = self.args
        if isinstance(args, list):
            if len(args) != len(param_names):
                raise UsageError(f"{self.name} takes {len(param_names)} argument(s) "
                                 f"({', '.join(param_names) or 'none'}), got {len(args)}")
            return dict(zip(param_names, args, strict=True))
        if isinstance(args, dict):
            if set(args) != set(param_names):
                raise UsageError(f"{self.name} takes the arguments {sorted(param_names)}, got {sorted(args)}")
            return dict(args)
        raise UsageError(f"{self.name}: the arguments must be a JSON array or object, got {type(args).__name__}")


def parse_call(spec: str, args_json: str) -> Call:
    """``--call IFACE#FUNC ARGS-JSON``; raises :class:`UsageError` (one line)."""
    interface, sep, function = spec.rpartition("#")
    if not sep or not interface or not function or ":" not in interface:
        raise UsageError(f"--call {spec!r}: expected INTERFACE#FUNCTION, e.g. 'example:counters/counters#get'")
    try:
        args = orjson.loads(args_json)
    except orjson.JSONDecodeError as e:
        raise UsageError(f"--call {spec}: the arguments are not JSON ({e})") from None
    return Call(interface=interface.partition("@")[0], function=function, args=args)


def manifest_calls(raw: dict[str, Any], where: str) -> list[Call]:
    """The manifest's ``[[call]]`` tables; raises :class:`ManifestError` naming the key."""
    tables = raw.get("call", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ManifestError(f"{where}: `call` must be an array of tables ([[call]])")
    out = []
    for i, t in enumerate(tables):
        spec, args = t.get("export"), t.get("args", [])
        if not isinstance(spec, str):
            raise ManifestError(f"{where}: call[{i}]: `export` (\"INTERFACE#FUNCTION\") is required")
        if isinstance(args, str):
            text = args
        elif isinstance(args, (list, dict)):
            text = orjson.dumps(args).decode()
        else:
            raise ManifestError(f"{where}: call[{i}]: `args` must be JSON text, an array or a table")
        try:
            out.append(parse_call(spec, text))
        except UsageError as e:
            raise ManifestError(f"{where}: call[{i}]: {str(e).removeprefix('--call ')}") from None
    return out
