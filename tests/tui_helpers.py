"""Realistic chains for the TUI and diff tests, with stable ids and times for snapshots.

Until real recordings exist these are written through the library (``Store.create_chain``
and ``ChainWriter``), with events shaped like a componentize-py actor's: environment and
random reads before ``init``, then messages that log and draw random numbers.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from tamper import flip_data_byte

from theater.chain import (
    END_TYPE,
    ChainBuilder,
    canonical_json,
    export_type,
    header_bytes,
    host_type,
    make_header,
)
from theater.store import Store

ENV = host_type("wasi:cli/environment@0.2.9", "get-environment")
RANDOM_BYTES = host_type("wasi:random/random@0.2.9", "get-random-bytes")
RANDOM_U64 = host_type("wasi:random/random@0.2.9", "get-random-u64")
LOG = host_type("theater:simple/runtime", "log")
INIT = export_type("theater:simple/actor", "init")
SEND = export_type("theater:simple/message-server-client", "handle-send")

CREATED = 1_750_000_000.0  # 2025-06-15 15:06:40 UTC
WRITTEN = 1_750_000_100.0


def b64(data: bytes) -> str:
    return "base64:" + base64.b64encode(data).decode()


def _bytes(seed: int, i: int, n: int = 16) -> bytes:
    return hashlib.sha256(f"{seed}/{i}".encode()).digest()[:n]


def actor_events(messages: int = 6, *, seed: int = 7) -> list[tuple[str, dict[str, Any]]]:
    """The events of a small actor run: startup reads, ``init``, then ``messages`` sends."""
    evs: list[tuple[str, dict[str, Any]]] = [(ENV, {"args": {}, "result": [["HOME", "/"]]})]
    for i in range(3):
        evs.append((RANDOM_BYTES, {"args": {"len": 16}, "result": b64(_bytes(seed, i))}))
    evs.append((INIT, {"args": {"params": ["x"], "state": None},
                       "result": {"ok": [{"some": b64(b'{"count":0}')}]}}))
    for m in range(messages):
        evs.append((LOG, {"args": {"msg": f"message {m}"}, "result": None}))
        evs.append((RANDOM_U64, {"args": {}, "result": m + 1}))
        state = b64(f'{{"count":{m + 1}}}'.encode())
        evs.append((SEND, {"args": {"msg": b64(f"ping {m}".encode()), "state": {"some": state}},
                           "result": {"ok": [{"some": state}]}}))
    return evs


def write_events(store: Store, events: list[tuple[str, dict[str, Any]]], *, seed: int = 7,
                 actor: str = "counter", finish: bool = True, replay_of: str | None = None) -> str:
    """Write ``events`` as one chain through the library; returns its id."""
    header = make_header(actor=actor, component_sha256="c0" * 32, seed=seed,
                         manifest={"name": actor, "component": f"{actor}.wasm"})
    w = store.create_chain(header, replay_of=replay_of, batch=64)
    for type_, data in events:
        w.append(type_, canonical_json(data))
    if finish:
        w.finish("completed")
    else:
        w.flush()
    return w.chain_id


def pin(store: Store, chain_id: str, new_id: str, *, created: float = CREATED) -> str:
    """Give a chain a fixed id and fixed times (creation, and written-at per seq)."""
    c = store.conn
    c.execute("UPDATE chains SET id = ?, created = ?, writer_pid = NULL WHERE id = ?",
              (new_id, created, chain_id))
    c.execute("UPDATE chains SET replay_of = ? WHERE replay_of = ?", (new_id, chain_id))
    # storage v2: events follow the chain by its integer key, which the new id keeps
    c.execute("UPDATE events SET written_at = ? + seq * 0.25 WHERE chain = (SELECT key FROM chains WHERE id = ?)",
              (WRITTEN, new_id))
    return new_id


def tamper_data(store: Store, chain_id: str, seq: int) -> None:
    """Flip one byte of an event's data (its stored hash no longer matches)."""
    flip_data_byte(store, chain_id, seq)


def demo_db(path: Path) -> dict[str, str]:
    """A database with a recording, its diverging replay, another seed, and a tampered chain."""
    with Store(path) as store:
        rec = pin(store, write_events(store, actor_events()), "0a1b2c3d4e5f6071", created=CREATED)
        events = actor_events()
        events[9] = (RANDOM_U64, {"args": {}, "result": 2 + 40})  # message 1 reads another value
        events[13][1]["result"] = 99
        rep = pin(store, write_events(store, events, replay_of=rec), "1b2c3d4e5f607182",
                  created=CREATED + 60)
        other = pin(store, write_events(store, actor_events(seed=8), seed=8, finish=False),
                    "2c3d4e5f60718293", created=CREATED + 120)
        bad = pin(store, write_events(store, actor_events(messages=3), actor="tampered"),
                  "3d4e5f6071829304", created=CREATED + 180)
        tamper_data(store, bad, 6)
    return {"recording": rec, "replay": rep, "other": other, "tampered": bad}


# -- a million events ---------------------------------------------------------------

BIG_VERSION = "s2"  # bump when the generated chain changes (s2: storage v2 layout)
BIG_EVENTS = 1_000_000
BIG_ID = "b1g0000000000001"


def _big_rows(chain_id: str, n: int) -> tuple[bytes, list[tuple[Any, ...]]]:
    header = header_bytes(make_header(actor="big", component_sha256="b1" * 32, seed=1))
    builder = ChainBuilder(header)
    rows: list[tuple[Any, ...]] = []
    append = rows.append
    for seq in range(n - 1):
        k = seq % 4
        if k == 0:
            t, d = RANDOM_U64, b'{"args":{},"result":%d}' % (seq * 7919 % 1000003)
        elif k == 1:
            t, d = RANDOM_BYTES, b'{"args":{"len":4},"result":"base64:%s"}' % base64.b64encode(
                seq.to_bytes(4, "big"))
        elif k == 2:
            t, d = LOG, b'{"args":{"msg":"tick %d"},"result":null}' % seq
        else:
            t, d = SEND, b'{"args":{"msg":"base64:AA==","state":null},"result":{"ok":[null]}}'
        s, parent, h = builder.append(t, d)
        append((chain_id, s, h, parent, t, d, WRITTEN + s))
    d = canonical_json({"outcome": "completed"})
    s, parent, h = builder.append(END_TYPE, d)
    append((chain_id, s, h, parent, END_TYPE, d, WRITTEN + s))
    return header, rows


def big_db() -> Path:
    """A database holding one chain of a million events, built once per version and
    cached under the temp dir (written to a side file and renamed, so parallel
    sessions never see half of it)."""
    path = Path(tempfile.gettempdir()) / f"theater-tui-{BIG_EVENTS}-{BIG_VERSION}.db"
    if path.exists():
        return path
    tmp = path.with_suffix(f".{os.getpid()}.part")
    Store(tmp).close()  # the schema
    header, rows = _big_rows(BIG_ID, BIG_EVENTS)
    conn = sqlite3.connect(tmp, isolation_level=None)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    key = conn.execute(
        "INSERT INTO chains (id, actor, format, header, component_sha256, created, status, length, head)"
        " VALUES (?, 'big', 'v1', ?, ?, ?, 'complete', ?, ?)",
        (BIG_ID, header, "b1" * 32, CREATED, len(rows), rows[-1][2]),
    ).lastrowid
    types = {t: conn.execute("INSERT INTO event_types (name) VALUES (?)", (t,)).lastrowid
             for t in dict.fromkeys(r[4] for r in rows)}
    # storage v2: events keyed by the chain's integer key, their type an event_types id, no parent
    conn.executemany("INSERT INTO events (chain, seq, hash, type, data, written_at) VALUES (?, ?, ?, ?, ?, ?)",
                     ((key, s, h, types[t], d, w) for _, s, h, _, t, d, w in rows))
    conn.execute("COMMIT")
    conn.close()
    os.replace(tmp, path)
    return path


# -- driving the app --------------------------------------------------------------

SIZE = (120, 36)


def drive(app: Any, scenario: Any, *, size: tuple[int, int] = SIZE) -> None:
    """Run ``app`` headless under a Pilot and await ``scenario(pilot)`` (no async plugin needed).

    A notification shown with the default lifetime (5 s) lasts the whole test: on a
    loaded machine (load 20 on 2 cores) a few steps took longer than that, and
    test_go_to_seq_and_find_by_type read ``app._notifications`` after its toast had gone."""
    import asyncio

    app.NOTIFICATION_TIMEOUT = 600

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await scenario(pilot)

    asyncio.run(main())


async def settle(pilot: Any) -> None:
    """Let workers finish and their messages land."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


def screen_text(app: Any) -> str:
    """What the terminal shows now, as plain text (one line per row)."""
    import io

    from rich.console import Console

    console = Console(width=app.size.width, height=app.size.height, file=io.StringIO(), record=True,
                      legacy_windows=False, color_system=None, force_terminal=True)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


class Terminal:
    """``theater`` run in a pseudo-terminal, as a user runs it (POSIX only)."""

    def __init__(self, *args: str, size: tuple[int, int] = SIZE) -> None:
        import fcntl
        import pty
        import struct
        import subprocess
        import sys
        import termios

        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        env = dict(os.environ, TERM="xterm-256color")
        env.pop("THEATER_DB", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "theater", *args], stdin=slave, stdout=slave,
                                     stderr=slave, env=env, close_fds=True)
        os.close(slave)
        self.master = master
        self.output = b""

    def read_until(self, needle: bytes, timeout: float = 30) -> bool:
        """Read output until ``needle`` has appeared (True) or ``timeout`` passed (False)."""
        import select
        import time

        deadline = time.monotonic() + timeout
        while needle not in self.output and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    self.output += os.read(self.master, 1 << 16)
                except OSError:
                    return needle in self.output
        return needle in self.output

    def press(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self, timeout: float = 20) -> int:
        """Wait for the process to end (draining its output); returns the exit code."""
        import subprocess

        try:
            self.read_until(b"\0never\0", timeout=0.2)
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            os.close(self.master)
