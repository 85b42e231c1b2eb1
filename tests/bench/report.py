"""The benchmark table: rows collected by the benchmarks, printed at the end of
``make bench`` and saved as JSON.

``python -m tests.bench.report [FILE]`` prints the table of the last run again
(default: ``.benchmarks/theater-bench.json``).
"""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_FILE = Path(".benchmarks") / "theater-bench.json"


@dataclass
class Row:
    """One line of the table. ``ratio`` is measured against ``baseline`` from the same
    run; ``met`` is None where there is no target (figures that are only reported)."""

    what: str
    measured: str
    baseline: str = "-"
    ratio: str = "-"
    target: str = "-"
    met: bool | None = None
    notes: list[str] = field(default_factory=list)
    order: int = 0  # rows are printed in this order (the order of the table)


def machine() -> dict[str, str]:
    """nproc, CPU model and the versions that matter for the figures."""
    import sqlite3
    from importlib.metadata import version

    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "wasmtime": version("wasmtime"),
        "load average at the end": load,
    }


def format_table(rows: list[Row], info: dict[str, str]) -> str:
    heads = ("what", "measured", "baseline (same run)", "ratio", "target", "")
    body = [(r.what, r.measured, r.baseline, r.ratio, r.target,
             "" if r.met is None else ("ok" if r.met else "MISSED"))
            for r in sorted(rows, key=lambda r: r.order)]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(heads)]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [line(heads), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(b) for b in body]
    notes = [f"- {r.what}: {n}" for r in sorted(rows, key=lambda r: r.order) for n in r.notes]
    if notes:
        out += ["", *notes]
    out += ["", "machine: " + ", ".join(f"{k} {v}" for k, v in info.items())]
    return "\n".join(out)


def save(rows: list[Row], info: dict[str, str], path: Path = DEFAULT_FILE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": info, "rows": [asdict(r) for r in rows]}, indent=2))


def load(path: Path = DEFAULT_FILE) -> tuple[list[Row], dict[str, str]]:
    obj = json.loads(path.read_text())
    return [Row(**r) for r in obj["rows"]], obj["machine"]


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else DEFAULT_FILE
    try:
        rows, info = load(path)
    except FileNotFoundError:
        print(f"no benchmark results at {path}; run `make bench` first", file=sys.stderr)
        return 2
    print(format_table(rows, info))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
