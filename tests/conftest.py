"""Shared fixtures: real SQLite files in tmp_path, real components."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from theater.chain import canonical_json, export_type, host_type, make_header
from theater.store import Store

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def write_chain(store: Store, n: int = 10, *, actor: str = "test-actor", finish: bool = True, seed: int = 7,
                batch: int = 4) -> str:
    """Write a small synthetic chain of n host events (+ an end event) through the library."""
    header = make_header(actor=actor, component_sha256="ab" * 32, seed=seed)
    w = store.create_chain(header, batch=batch)
    for i in range(n):
        if i % 3 == 2:
            w.append(export_type("theater:simple/actor", "init"),
                     canonical_json({"args": {"state": None}, "result": {"ok": [None]}}))
        else:
            w.append(host_type("wasi:random/random@0.2.3", "get-random-u64"),
                     canonical_json({"args": {}, "result": i * 7919 + seed}))
    if finish:
        w.finish("completed")
    else:
        w.flush()
    return w.chain_id


def pytest_configure(config: pytest.Config) -> None:
    """The processes the tests start (``python -m theater``: ~250 of them) keep their
    bytecode in a cache outside the checkout instead of compiling theater's sources
    each time (0.1 s of CPU per start), also where ``PYTHONDONTWRITEBYTECODE`` keeps
    bytecode out of the source tree. An explicit ``PYTHONPYCACHEPREFIX`` wins."""
    if os.environ.get("PYTHONDONTWRITEBYTECODE") and not os.environ.get("PYTHONPYCACHEPREFIX"):
        del os.environ["PYTHONDONTWRITEBYTECODE"]
        os.environ["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / f"theater-pycache-{os.getuid()}")


@pytest.fixture(autouse=True, scope="session")
def _own_config_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test reads or writes the user's theater/config.toml (the TUI's saved theme).
    Session-scoped and without ``monkeypatch``: a function-scoped autouse fixture that
    took ``monkeypatch`` would undo each test's own patches after that test's other
    fixtures had torn down (tests/test_fastvalues.py checks wasmtime in its teardown)."""
    old = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config-home"))
    yield
    if old is None:
        os.environ.pop("XDG_CONFIG_HOME", None)
    else:
        os.environ["XDG_CONFIG_HOME"] = old


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "t.db")
    yield s
    s.close()


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 120, input: str | bytes | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI (the ``theater`` click group) in this process with click's
    ``CliRunner``: the group's own ``main`` maps exceptions to exit codes and one-line
    errors, so the exit code, stdout and stderr are what the console script gives.

    An exception the group let through (a bug: a traceback for the user) is re-raised
    here, so a test never passes over it. ``timeout`` is kept for the signature of
    :func:`run_cli_process`, which runs ``python -m theater`` in a subprocess; use that
    one where the process boundary is the point (signals, crashes, encodings, the
    entry point's exit code).
    """
    from click.testing import CliRunner

    from theater.cli import cli

    e: dict[str, str | None] = {"THEATER_DB": None}
    if env:
        e.update(env)
    old = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        res = CliRunner().invoke(cli, list(args), env=e, input=input, prog_name="theater")
    finally:
        os.chdir(old)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return subprocess.CompletedProcess(["theater", *args], res.exit_code, res.stdout, res.stderr)


def run_cli_process(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
                    timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real CLI (`python -m theater`) in a subprocess."""
    e = dict(os.environ)
    e.pop("THEATER_DB", None)
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-m", "theater", *args], capture_output=True, text=True,
                          env=e, cwd=cwd, timeout=timeout)


class MemoryWriter:
    """The writer protocol the boundary needs (``length``, ``append``), in a list."""

    def __init__(self) -> None:
        self.events: list[tuple[str, bytes]] = []

    @property
    def length(self) -> int:
        return len(self.events)

    def append(self, type_: str, data: bytes) -> bytes:
        self.events.append((type_, data))
        return b""


# -- running under pytest-xdist (`make test`: -n 4) ----------------------------------
# An xdist worker was found running with COLUMNS=80 in its environment where the
# controller had none (its source not traced), and `theater chains` cuts actor names to
# fit a COLUMNS it sees: tests that check the uncut names of a pipe failed only under -n 2.
# The controller hands each worker its own terminal variables, and the worker puts
# them back as they were (removed where the controller had none).
_TERMINAL_VARS = ("COLUMNS", "LINES")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: object) -> None:
    """xdist controller: give each worker the controller's terminal variables."""
    node.workerinput["theater_terminal"] = {k: os.environ.get(k) for k in _TERMINAL_VARS}  # type: ignore[attr-defined]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """xdist worker: the controller's terminal variables, not the bootstrap's."""
    given = getattr(session.config, "workerinput", {}).get("theater_terminal")
    if given is None:
        return
    for k, v in given.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


# -- the order files run in (`make test`: -n 4 --dist loadfile --no-loadscope-reorder) ---
# xdist hands each worker a whole file at a time, by default the files with the most
# tests first: the files of a few long tests (SIGKILL trials, four recorders, a million
# events) went last, and one worker ran them alone for minutes after the other had
# finished. The files holding tests marked ``slow`` go first here, those with the most
# slow tests before the others; the rest follow in collection order, so both workers
# finish together on short files.


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Issue 12 item 8: files with ``slow`` tests first (a stable sort: each file's
    tests stay together and in their order)."""
    slow: dict[Path, int] = {}
    for item in items:
        if item.get_closest_marker("slow") is not None:
            slow[item.path] = slow.get(item.path, 0) + 1
    items.sort(key=lambda item: -slow.get(item.path, 0))
