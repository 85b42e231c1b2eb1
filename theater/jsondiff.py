"""Structural differences between two JSON values, for divergence and diff reports.

``differences(expected, actual)`` walks both values and lists where they differ, by
path: ``args.len: expected 32, got 16``. Used by the replayer (divergence) and by
``verify.diff`` (chain diff); it lives in the core so both can use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_MISSING = object()


@dataclass(frozen=True)
class Difference:
    """One place where two values differ. ``path`` is dotted (``args.state.some``)."""

    path: str
    expected: Any
    actual: Any
    kind: str = "changed"  # changed | missing (only in expected) | added (only in actual)

    def describe(self) -> str:
        where = self.path or "value"
        if where.startswith("args."):
            where = "argument " + where[5:]
        if self.kind == "missing":
            return f"{where}: expected {_show(self.expected)}, missing"
        if self.kind == "added":
            return f"{where}: not expected, got {_show(self.actual)}"
        return f"{where}: expected {_show(self.expected)}, got {_show(self.actual)}"

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "expected": self.expected, "actual": self.actual}


def _show(v: Any, limit: int = 80) -> str:
    import orjson

    try:
        s = orjson.dumps(v).decode()
    except TypeError:
        s = repr(v)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def differences(expected: Any, actual: Any, *, path: str = "", limit: int = 20) -> list[Difference]:
    """Up to ``limit`` differences between two JSON values, outermost first."""
    out: list[Difference] = []
    _walk(expected, actual, path, out, limit)
    return out


def _walk(e: Any, a: Any, path: str, out: list[Difference], limit: int) -> None:
    if len(out) >= limit:
        return
    if isinstance(e, dict) and isinstance(a, dict):
        for k in sorted(set(e) | set(a)):
            if k not in a:
                out.append(Difference(_join(path, k), e[k], None, "missing"))
            elif k not in e:
                out.append(Difference(_join(path, k), None, a[k], "added"))
            else:
                _walk(e[k], a[k], _join(path, k), out, limit)
            if len(out) >= limit:
                return
        return
    if isinstance(e, list) and isinstance(a, list):
        if len(e) != len(a) and not (e and a and all(type(x) is type(y) for x, y in zip(e, a, strict=False))):
            out.append(Difference(path, e, a))
            return
        for i in range(max(len(e), len(a))):
            if i >= len(a):
                out.append(Difference(_join(path, i), e[i], None, "missing"))
            elif i >= len(e):
                out.append(Difference(_join(path, i), None, a[i], "added"))
            else:
                _walk(e[i], a[i], _join(path, i), out, limit)
            if len(out) >= limit:
                return
        return
    if e != a or type(e) is not type(a):
        out.append(Difference(path, e, a))
