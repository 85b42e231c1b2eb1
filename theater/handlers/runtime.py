"""The runtime handler: theater:simple/runtime (``log``, ``shutdown``) and the
actor's standard streams and process interfaces, as WASI preview-1 adapters and
language runtimes use them: wasi:cli/stdout and stderr (the wasi:io/streams
``output-stream``), wasi:cli/stdin (an ``input-stream``: empty, or the bytes of
``theater record --stdin FILE``), wasi:cli/terminal-* (no terminal: ``none``) and
wasi:cli/exit. So ``print()``, ``console.log`` and ``println!`` work, and their
output is recorded; so is every read of stdin, with its bytes.

``exit(status)`` ends the run: the boundary records the call and raises
:class:`theater.errors.ActorExit` (the export call ends as an exit, ``ok`` =
stopped, ``err`` = error), the way a process ends.

Output goes to ``sink(kind, text)`` (kind is ``log``, ``stdout`` or ``stderr``),
which the recorder points at the terminal. The text is made inert first
(:func:`theater.text.inert`): an actor's output never reaches a terminal as control
characters, whichever sink shows it. The recorded event keeps the exact string.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wasmtime.component import ResourceHost, Variant

from ..text import inert
from . import Handler, LiveFn
from .poll import POLLABLE_TYPE, always_ready

OUTPUT_STREAM_TYPE = 0x7E0  # the host type id of our output-stream resource
INPUT_STREAM_TYPE = 0x7E1  # ... and of our input-stream
STDOUT_REP, STDERR_REP = 1, 2
STDIN_REP = 0
_NAMES = {STDOUT_REP: "stdout", STDERR_REP: "stderr"}
_OK = Variant("ok", None)  # result<_, stream-error> is a tagged result in wasmtime-py

Sink = Callable[[str, str], None]


def _discard(kind: str, text: str) -> None:
    pass


class RuntimeHandler(Handler):
    type = "runtime"
    interfaces = {
        "theater:simple/runtime": ("log", "shutdown"),
        "wasi:cli/stdout": ("get-stdout",),
        "wasi:cli/stderr": ("get-stderr",),
        "wasi:io/streams": (
            "[method]output-stream.check-write", "[method]output-stream.write",
            "[method]output-stream.blocking-write-and-flush", "[method]output-stream.flush",
            "[method]output-stream.blocking-flush", "[method]output-stream.subscribe",
            "[method]input-stream.read", "[method]input-stream.blocking-read",
            "[method]input-stream.skip", "[method]input-stream.blocking-skip",
            "[method]input-stream.subscribe",
        ),
        "wasi:cli/stdin": ("get-stdin",),
        "wasi:cli/terminal-stdin": ("get-terminal-stdin",),
        "wasi:cli/terminal-stdout": ("get-terminal-stdout",),
        "wasi:cli/terminal-stderr": ("get-terminal-stderr",),
        "wasi:cli/exit": ("exit",),
    }
    resource_types = {
        "wasi:io/streams": {"output-stream": OUTPUT_STREAM_TYPE, "input-stream": INPUT_STREAM_TYPE},
        "wasi:io/poll": {"pollable": POLLABLE_TYPE},
    }

    def __init__(self, config: Any, manifest: Any) -> None:
        super().__init__(config, manifest)
        self.sink: Sink = _discard
        self.shutdown_requested: bytes | None | bool = False
        self._partial: dict[int, bytes] = {}
        self.stdin = b""  # what wasi:cli/stdin reads (theater record --stdin FILE)
        self.exit_status: bool | None = None  # wasi:cli/exit: True ok, False err
        # other handlers' streams (the filesystem's files): rep -> [reader or writer, position]
        self._inputs: dict[int, list[Any]] = {STDIN_REP: [self._stdin_read, 0]}
        self._outputs: dict[int, list[Any]] = {}
        self._next_stream = 16

    def open_input(self, read: Callable[[int, int], bytes]) -> int:
        """A new input-stream reading through ``read(n, position)``; returns its rep."""
        rep, self._next_stream = self._next_stream, self._next_stream + 1
        self._inputs[rep] = [read, 0]
        return rep

    def open_output(self, write: Callable[[bytes, int], None]) -> int:
        """A new output-stream writing through ``write(data, position)``; returns its rep."""
        rep, self._next_stream = self._next_stream, self._next_stream + 1
        self._outputs[rep] = [write, 0]
        return rep

    # -- input streams: wasi:cli/stdin and other handlers' --

    def _stdin_read(self, n: int, pos: int) -> bytes:
        return self.stdin[pos:pos + n]

    def _read(self, store: Any, stream: Any, n: int) -> bytes | None:
        """``result<list<u8>, stream-error>``: the next bytes, or ``closed`` at the end
        (wasmtime-py gives that result untagged: bytes, or None for ``closed``)."""
        entry = self._inputs.get(int(stream.rep))
        if entry is None:
            return None
        chunk = entry[0](min(n, 1 << 20), entry[1])
        if not chunk and n:
            return None
        entry[1] += len(chunk)
        return bytes(chunk)

    def _skip(self, store: Any, stream: Any, n: int) -> int | None:
        data = self._read(store, stream, n)
        return None if data is None else len(data)

    def _exit(self, store: Any, status: Any) -> None:
        self.exit_status = isinstance(status, Variant) and status.tag == "ok"

    # -- theater:simple/runtime --

    def _log(self, store: Any, msg: str) -> None:
        self.sink("log", inert(msg))

    def _shutdown(self, store: Any, data: bytes | None) -> None:
        self.shutdown_requested = data if data is not None else True
        return None  # result<_, string>: ok

    # -- output streams --

    def _write(self, store: Any, stream: Any, contents: bytes) -> Variant:
        rep = stream.rep  # the boundary hands resources over as ResourceHost
        out = self._outputs.get(rep)
        if out is not None:
            out[0](contents, out[1])
            out[1] += len(contents)
            return _OK
        buf = self._partial.get(rep, b"") + contents
        *lines, rest = buf.split(b"\n")
        for line in lines:
            self.sink(_NAMES.get(rep, "stdout"), inert(line.decode("utf-8", "replace")))
        self._partial[rep] = rest
        return _OK

    def flush_partial(self) -> None:
        for rep, rest in self._partial.items():
            if rest:
                self.sink(_NAMES.get(rep, "stdout"), inert(rest.decode("utf-8", "replace")))
        self._partial.clear()

    def functions(self) -> dict[str, dict[str, LiveFn]]:
        ok: Callable[..., Any] = lambda store, *a: _OK  # noqa: E731
        return {
            "theater:simple/runtime": {"log": self._log, "shutdown": self._shutdown},
            "wasi:cli/stdout": {"get-stdout": lambda store: ResourceHost.own(STDOUT_REP, OUTPUT_STREAM_TYPE)},
            "wasi:cli/stderr": {"get-stderr": lambda store: ResourceHost.own(STDERR_REP, OUTPUT_STREAM_TYPE)},
            "wasi:io/streams": {
                "[method]output-stream.check-write": lambda store, s: 1 << 20,
                "[method]output-stream.write": self._write,
                "[method]output-stream.blocking-write-and-flush": self._write,
                "[method]output-stream.flush": ok,
                "[method]output-stream.blocking-flush": ok,
                "[method]output-stream.subscribe": lambda store, s: always_ready(),
                "[method]input-stream.read": self._read,
                "[method]input-stream.blocking-read": self._read,
                "[method]input-stream.skip": self._skip,
                "[method]input-stream.blocking-skip": self._skip,
                "[method]input-stream.subscribe": lambda store, s: always_ready(),
            },
            "wasi:cli/stdin": {"get-stdin": lambda store: ResourceHost.own(STDIN_REP, INPUT_STREAM_TYPE)},
            "wasi:cli/terminal-stdin": {"get-terminal-stdin": lambda store: None},
            "wasi:cli/terminal-stdout": {"get-terminal-stdout": lambda store: None},
            "wasi:cli/terminal-stderr": {"get-terminal-stderr": lambda store: None},
            "wasi:cli/exit": {"exit": self._exit},
        }


