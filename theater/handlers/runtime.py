"""The runtime handler: theater:simple/runtime (``log``, ``shutdown``) and the
actor's standard output and error (wasi:cli/stdout, wasi:cli/stderr and the
wasi:io/streams ``output-stream`` resource), so ``print()`` in an actor works and its
output is recorded.

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

OUTPUT_STREAM_TYPE = 0x7E0  # the host type id of our output-stream resource
STDOUT_REP, STDERR_REP = 1, 2
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
            "[method]output-stream.blocking-flush",
        ),
    }
    resource_types = {"wasi:io/streams": {"output-stream": OUTPUT_STREAM_TYPE}}

    def __init__(self, config: Any, manifest: Any) -> None:
        super().__init__(config, manifest)
        self.sink: Sink = _discard
        self.shutdown_requested: bytes | None | bool = False
        self._partial: dict[int, bytes] = {}

    # -- theater:simple/runtime --

    def _log(self, store: Any, msg: str) -> None:
        self.sink("log", inert(msg))

    def _shutdown(self, store: Any, data: bytes | None) -> None:
        self.shutdown_requested = data if data is not None else True
        return None  # result<_, string>: ok

    # -- output streams --

    def _write(self, store: Any, stream: Any, contents: bytes) -> Variant:
        rep = stream.rep  # the boundary hands resources over as ResourceHost
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
            },
        }


