"""The wasi-http handler (upstream's type name): ``wasi:http/types``, the resources of
wasi:http 0.2 (fields, requests, responses, bodies, futures), as host tables that run
the same in record and replay (theater/wasihttp.py). It opens no socket: an actor that
sends requests (``wasi:http/outgoing-handler``) needs the http-client handler too, whose
settings (allowed hosts, limits, redaction) rule them; ``theater serve`` of a
``wasi:http/incoming-handler`` export (componentize-py's ``proxy`` world) needs this one.
"""

from __future__ import annotations

from typing import Any

from ..wasihttp import RESOURCE_TYPES, TYPES, HttpState
from . import Handler, LiveFn


class WasiHttpHandler(Handler):
    type = "wasi-http"
    interfaces = {TYPES: tuple(sorted({f for (i, f) in HttpState().functions() if i == TYPES}))}
    resource_types = {TYPES: dict(RESOURCE_TYPES)}

    def __init__(self, config: Any, manifest: Any) -> None:
        super().__init__(config, manifest)
        self.local_state = HttpState()

    def functions(self) -> dict[str, dict[str, LiveFn]]:
        return {}  # every function is local: HttpState.bind, in record and replay alike
